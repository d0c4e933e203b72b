//go:build !ward_omit_update

package node

import (
	"context"
	"runtime"
	"sync"

	"github.com/wardnet/ward/node/update"
	"github.com/wardnet/ward/wire"
)

// runUpdates runs the updater (issue 16): it asks for updates while the
// coordinator speaks wire.FeatureUpdates, and stops the agent with
// update.ErrRestart when the binary was swapped or rolled back (the
// caller then calls update.Restart).
func (a *Agent) runUpdates(ctx context.Context, wg *sync.WaitGroup, cancel context.CancelCauseFunc) error {
	u, err := update.New(update.Config{StateDir: a.cfg.StateDir, Coordinator: a.client, Version: a.cfg.Version,
		Device:       update.Device{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, Model: a.cfg.Model},
		HealthWindow: a.cfg.UpdateHealthWindow, Poll: a.cfg.UpdatePoll, Logger: a.log,
		Joined:    a.sess.WaitJoined,
		Supported: func() bool { return wire.Supports(a.client.ServerVersion(), wire.FeatureUpdates) }})
	if err != nil {
		return err
	}
	a.goRun(wg, cancel, "update", func() error { return u.Run(ctx) })
	return nil
}
