package webtest

import (
	"context"
	"fmt"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/fault"
	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/wire"
)

// AlertRules implements web.Backend: the newest saved version, else
// version 0 with no rule.
func (b *Backend) AlertRules(context.Context) (wire.PolicyVersion, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.alertRules) == 0 {
		return wire.PolicyVersion{Text: "{\"rules\": []}\n"}, nil
	}
	return b.alertRules[len(b.alertRules)-1], nil
}

// AlertRulesVersions implements web.Backend, newest first, without texts.
func (b *Backend) AlertRulesVersions(context.Context) ([]wire.PolicyVersion, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]wire.PolicyVersion, 0, len(b.alertRules))
	for i := len(b.alertRules) - 1; i >= 0; i-- {
		v := b.alertRules[i]
		v.Text = ""
		out = append(out, v)
	}
	return out, nil
}

// AlertRulesVersion implements web.Backend.
func (b *Backend) AlertRulesVersion(_ context.Context, id int64) (wire.PolicyVersion, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if id < 1 || int(id) > len(b.alertRules) {
		return wire.PolicyVersion{}, fmt.Errorf("%w: alert rules version %d", web.ErrNotFound, id)
	}
	return b.alertRules[id-1], nil
}

// SetAlertRules implements web.Backend with the real alert parser.
func (b *Backend) SetAlertRules(_ context.Context, text, comment string, parent int64, by admin.Principal) (wire.PolicyVersion, error) {
	if _, err := alert.Parse("alert-rules", []byte(text)); err != nil {
		return wire.PolicyVersion{}, fault.Wrap(fault.Invalid, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	latest := int64(len(b.alertRules))
	if parent != -1 && parent != latest {
		return wire.PolicyVersion{}, fmt.Errorf("%w: latest alert rules version is %d, not %d", web.ErrConflict, latest, parent)
	}
	v := wire.PolicyVersion{ID: latest + 1, ParentID: latest, Text: text, Author: by.Actor, Comment: comment, CreatedAt: b.now().UTC()}
	b.alertRules = append(b.alertRules, v)
	b.writes++
	return v, nil
}
