//go:build !linux

package rawio

import "net"

// Wrap returns c: raw system calls are Linux's here.
func Wrap(c net.Conn) net.Conn { return c }
