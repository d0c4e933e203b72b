package auditchain

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"
)

// chain builds n entries with a checkpoint every third, signed by priv.
func chain(priv ed25519.PrivateKey, n int) []Entry {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	var es []Entry
	prev := ""
	for i := 1; i <= n; i++ {
		e := Entry{ID: int64(i), Time: t0.Add(time.Duration(i) * time.Second), Actor: "user:alice@example.com",
			Action: "node.register", Target: "node:cam", Detail: json.RawMessage(`{"a": 1}`)}
		if i%3 == 0 {
			c := NewCheckpoint(priv, prev, e.Time)
			e.Action, e.Actor, e.Target, e.Detail = CheckpointAction, "system", "", mustJSON(c)
		}
		e.PrevHash, e.Hash = prev, Sum(prev, e)
		prev = e.Hash
		es = append(es, e)
	}
	return es
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func verify(es []Entry, key ed25519.PublicKey) Report {
	v := NewVerifier(key)
	for _, e := range es {
		v.Add(e)
	}
	return v.Report()
}

func TestAuditChainFindsTheFirstEntryThatDoesNotFit(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, otherPriv, _ := ed25519.GenerateKey(nil)
	tests := []struct {
		name    string
		edit    func([]Entry) []Entry
		key     ed25519.PublicKey
		wantID  int64
		wantErr error
	}{
		{"valid", func(es []Entry) []Entry { return es }, pub, 0, nil},
		{"valid, key from the checkpoints", func(es []Entry) []Entry { return es }, nil, 0, nil},
		{"edited actor", func(es []Entry) []Entry { es[4].Actor = "user:mallory@example.com"; return es }, pub, 5, ErrBadHash},
		{"edited detail", func(es []Entry) []Entry { es[1].Detail = json.RawMessage(`{"a":2}`); return es }, pub, 2, ErrBadHash},
		{"deleted entry", func(es []Entry) []Entry { return slices.Delete(es, 4, 5) }, pub, 6, ErrBroken},
		{"rehashed after an edit", func(es []Entry) []Entry {
			es[4].Actor = "x"
			es[4].Hash = Sum(es[4].PrevHash, es[4])
			return es
		}, pub, 6, ErrBroken},
		{"checkpoint by another key", func(es []Entry) []Entry { return chain(otherPriv, 7) }, pub, 3, ErrBadCheckpoint},
		{"hash removed mid-chain", func(es []Entry) []Entry { es[3].Hash = ""; return es }, pub, 4, ErrUnchained},
	}
	_ = otherPub
	for _, tc := range tests {
		r := verify(tc.edit(chain(priv, 7)), tc.key)
		if r.BadID != tc.wantID || !errors.Is(r.Problem, tc.wantErr) || (tc.wantErr == nil) != r.OK() {
			t.Errorf("%s: bad %d, %v; want %d, %v", tc.name, r.BadID, r.Problem, tc.wantID, tc.wantErr)
		}
		if tc.wantErr == nil && (r.Checkpoints != 2 || r.Entries != 7) {
			t.Errorf("%s: %+v", tc.name, r)
		}
	}
}
