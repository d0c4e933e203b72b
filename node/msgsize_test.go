//go:build !windows

package node

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
)

// TestTooBigForBatch: the refusals of a batch too large for the path
// (as the standard bind wraps them) turn on one-datagram sends; other
// errors do not.
func TestTooBigForBatch(t *testing.T) {
	wrap := func(e error) error {
		return &net.OpError{Op: "write", Net: "udp", Err: os.NewSyscallError("sendmmsg", e)}
	}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{wrap(syscall.EMSGSIZE), true},
		{wrap(syscall.EINVAL), true},
		{wrap(syscall.ECONNREFUSED), false},
		{errors.New("other"), false},
		{nil, false},
	} {
		if got := tooBigForBatch(c.err); got != c.want {
			t.Errorf("tooBigForBatch(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
