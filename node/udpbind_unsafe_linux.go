package node

import (
	"encoding/binary"
	"unsafe"
)

// unsafePointer returns the address of b (a control message header).
func unsafePointer(b *byte) unsafe.Pointer { return unsafe.Pointer(b) }

// inside reports whether part lies within whole's backing array.
func inside(whole, part []byte) bool {
	if len(part) == 0 || cap(whole) == 0 {
		return false
	}
	w := uintptr(unsafe.Pointer(unsafe.SliceData(whole[:cap(whole)])))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(part)))
	return p >= w && p < w+uintptr(cap(whole))
}

func nativePutUint16(b []byte, v uint16) { binary.NativeEndian.PutUint16(b, v) }
func nativeUint16(b []byte) uint16       { return binary.NativeEndian.Uint16(b) }
func nativeUint32(b []byte) uint32       { return binary.NativeEndian.Uint32(b) }
