package privfile

import "os"

// syncDir has nothing to do on Windows: a directory cannot be flushed
// there (FlushFileBuffers needs a handle open for writing, which a
// directory's is not), and NTFS journals the rename itself.
func syncDir(string) error { return nil }

// checkPerms passes every file on Windows, where a file's mode bits say
// only whether it is read-only: the state directory's access list, the
// user's and SYSTEM's alone (node/localapi's Listen sets it; the
// profile's %LOCALAPPDATA% it sits in is the user's before that), is
// what keeps other users out.
func checkPerms(string, os.FileInfo) error { return nil }
