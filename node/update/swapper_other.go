//go:build !windows

package update

// platformSwapper is the swap of systems where a running binary may be
// replaced by a rename.
func platformSwapper() swapper { return replaceSwap{} }
