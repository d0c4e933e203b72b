//go:build !windows

package node

import (
	"errors"
	"syscall"
)

// tooBigForBatch reports whether err is the refusal of a batched send
// whose datagrams exceed the path MTU (UDP segmentation offload cannot
// split them): EMSGSIZE, or EINVAL from some kernels.
func tooBigForBatch(err error) bool {
	return errors.Is(err, syscall.EMSGSIZE) || errors.Is(err, syscall.EINVAL)
}
