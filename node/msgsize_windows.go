package node

import (
	"errors"

	"golang.org/x/sys/windows"
)

// tooBigForBatch reports whether err is the refusal of a batched send
// whose datagrams exceed the path MTU: Windows reports WSAEMSGSIZE.
func tooBigForBatch(err error) bool {
	return errors.Is(err, windows.WSAEMSGSIZE) || errors.Is(err, windows.WSAEINVAL)
}
