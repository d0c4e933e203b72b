//go:build ward_omit_update

package node

import (
	"context"
	"sync"
)

// runUpdates stands in for the updater (node/update, with go-tuf), which
// a build with -tags ward_omit_update leaves out: the agent does not
// update itself and says so once.
func (a *Agent) runUpdates(context.Context, *sync.WaitGroup, context.CancelCauseFunc) error {
	a.log.Info("updates over the air are not in this build (built with -tags ward_omit_update)")
	return nil
}
