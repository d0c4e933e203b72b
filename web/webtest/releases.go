package webtest

import (
	"context"
	"fmt"

	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/wire"
)

// PublishRelease implements web.Backend: it checks the publication and
// records it in the audit log (the files are not kept).
func (b *Backend) PublishRelease(_ context.Context, p wire.ReleasePublish, actor string) error {
	if err := p.Check(); err != nil {
		return fmt.Errorf("%w: %v", web.ErrBadRequest, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.changedLocked(actor, "release.publish", "tuf", map[string]any{"metadata": len(p.Metadata), "targets": len(p.Targets)})
	return nil
}
