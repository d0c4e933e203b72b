//go:build windows

package update

// platformSwapper is Windows' swap: a running binary is renamed aside,
// never replaced.
func platformSwapper() swapper { return renameAside{fs: osFiles{}} }
