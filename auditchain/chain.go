// Package auditchain makes the coordinator's audit log tamper-evident: each
// entry carries the SHA-256 of the entry before it, and every minute the
// coordinator appends a checkpoint entry signed with its Ed25519 key (one
// even when nothing else happened, so a gap in time can be proven).
// Verify checks a log, live or exported, and names the first entry that
// does not fit. It is a leaf: the store, the coordinator and the admin CLI
// share it.
package auditchain

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// CheckpointAction is the action of a checkpoint entry.
const CheckpointAction = "audit.checkpoint"

// Errors of Verify, wrapped with the entry's ID.
var (
	// ErrBadHash: an entry's hash is not that of its content and the
	// previous entry's hash (the entry was edited).
	ErrBadHash = errors.New("hash does not match the entry's content")
	// ErrBroken: an entry's prev_hash is not the hash of the entry before
	// it, or its ID does not follow (an entry was removed or inserted).
	ErrBroken = errors.New("does not follow the entry before it")
	// ErrBadCheckpoint: a checkpoint's signature does not verify.
	ErrBadCheckpoint = errors.New("checkpoint signature does not verify")
	// ErrUnchained: an entry without a hash after the chain began.
	ErrUnchained = errors.New("has no hash")
)

// Entry is one audit entry as the chain covers it. The JSON shape is the
// audit export's (JSON lines, one Entry a line): stable field names, time
// in RFC 3339 (UTC, microseconds), hashes in hex.
type Entry struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Source string    `json:"source,omitempty"`
	// Detail is a JSON value; may be empty.
	Detail json.RawMessage `json:"detail,omitempty"`
	// PrevHash is the previous entry's Hash (empty for the first one);
	// Hash is SHA-256 over PrevHash and the fields above (see Sum).
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// Sum returns the hex SHA-256 of e's content chained to prev (hex): the
// fields are written length-prefixed, the time as Unix microseconds and
// the detail compacted, so the same entry hashes the same whether it
// comes from the store or from an export.
func Sum(prev string, e Entry) string {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(prev))
	binary.BigEndian.PutUint64(n[:], uint64(e.ID))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(e.Time.UnixMicro()))
	h.Write(n[:])
	for _, s := range []string{e.Actor, e.Action, e.Target, e.Source} {
		field([]byte(s))
	}
	field(compact(e.Detail))
	return hex.EncodeToString(h.Sum(nil))
}

// compact is d without insignificant space (d itself if it is not JSON).
func compact(d json.RawMessage) []byte {
	var b bytes.Buffer
	if len(d) == 0 || json.Compact(&b, d) != nil {
		return d
	}
	return b.Bytes()
}

// Checkpoint is the detail of a checkpoint entry: the chain's head (the
// hash of the entry before the checkpoint) signed by the coordinator.
type Checkpoint struct {
	// Head is the PrevHash of the checkpoint entry.
	Head string `json:"head"`
	// At is the checkpoint's time, the same as its entry's.
	At time.Time `json:"at"`
	// Key is the signer's Ed25519 public key (hex), so an export names
	// it; Verify trusts only the key it is given when it is given one.
	Key string `json:"key"`
	// Signature is Ed25519 over SignedBytes (hex).
	Signature string `json:"signature"`
}

// SignedBytes is what a checkpoint's signature covers.
func SignedBytes(head string, at time.Time) []byte {
	return fmt.Appendf(nil, "ward audit checkpoint\n%s\n%d\n", head, at.UnixMicro())
}

// NewCheckpoint signs head at time at with priv.
func NewCheckpoint(priv ed25519.PrivateKey, head string, at time.Time) Checkpoint {
	return Checkpoint{Head: head, At: at.UTC().Truncate(time.Microsecond),
		Key:       hex.EncodeToString(priv.Public().(ed25519.PublicKey)),
		Signature: hex.EncodeToString(ed25519.Sign(priv, SignedBytes(head, at)))}
}
