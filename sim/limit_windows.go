package sim

// raiseFileLimit reports no limit on Windows, where sockets are handles
// with no per-process soft limit to raise.
func raiseFileLimit() (fit int, limit uint64, err error) {
	return 1 << 30, 0, nil
}
