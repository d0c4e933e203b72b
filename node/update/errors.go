package update

import "errors"

// Errors of an update. Every refusal of a target wraps ErrRefused, so
// that the report says the device refused it rather than failed.
var (
	// ErrNoRoot means the device was provisioned with no update root
	// (`ward node --update-root`): it installs nothing.
	ErrNoRoot = errors.New("no update root: provision one with --update-root")
	// ErrRefused means the target's signed metadata does not allow it on
	// this device, or its content does not match what was signed.
	ErrRefused = errors.New("refused")
	// ErrRestart asks the agent to stop and restart into the binary at
	// its path (see Exec): a Ward update was swapped in, or rolled back.
	ErrRestart = errors.New("restart into the updated binary")
)
