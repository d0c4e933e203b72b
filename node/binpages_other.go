//go:build !linux

package node

// releaseBinarySupported: only Linux's agent releases its executable's
// pages (see binpages_linux.go).
const releaseBinarySupported = false

func releaseBinaryPages() error { return nil }

func fileResidentKB() (int, error) { return 0, nil }
