//go:build !unix

package watch

import "os"

// fileID returns 0, 0: the system gives no device and inode through
// os.FileInfo, so a restart tells a rotated log only by its size.
func fileID(os.FileInfo) (dev, ino uint64) { return 0, 0 }
