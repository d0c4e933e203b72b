package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wardnet/ward/client/desktop"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/node/localapi"
)

// notRunning turns err, a failure to reach the local API in dir, into
// advice that fits what was set up there: the desktop client (a person's
// machine) or the node agent (a device). Any other error is returned as
// it is.
func notRunning(dir string, err error) error {
	if !errors.Is(err, localapi.ErrNoDaemon) {
		return err
	}
	return errors.New(stateHint(dir))
}

// stateHint says what to start, from the state files in dir.
func stateHint(dir string) string {
	switch {
	case exists(filepath.Join(dir, node.PersonStateFile)):
		return fmt.Sprintf("the desktop client is not running (its state is in %s): `ward up` starts it and logs you in", dir)
	case exists(filepath.Join(dir, node.StateFile)):
		return fmt.Sprintf("the node agent is not running (its state is in %s): start `ward node` (or its service)", dir)
	}
	msg := fmt.Sprintf("nothing has run with the state directory %s: on a person's machine, `ward up --coordinator URL` "+
		"logs you in; on a device, `ward node --coordinator URL --auth-key KEY` joins the overlay", dir)
	if root := desktop.Host().RootStateDir(); root != "" && dir != root && exists(filepath.Join(root, localapi.SocketName)) {
		msg += "; something runs as root here: try sudo"
	}
	return msg
}

// exists reports whether path exists.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
