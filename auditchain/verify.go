package auditchain

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Report is what Verify found.
type Report struct {
	// Entries is how many entries were read; Legacy how many of them
	// came before the chain began (no hash: written before the audit log
	// was chained).
	Entries, Legacy int
	// Checkpoints is how many signed checkpoints verified; Last is the
	// time of the last one (zero: none).
	Checkpoints int
	Last        time.Time
	// Key is the checkpoints' key (hex), as given or as the first
	// checkpoint named it.
	Key string
	// BadID is the first entry that does not fit (0: none); Problem says
	// how, wrapping one of the package's errors.
	BadID   int64
	Problem error
}

// OK reports whether the whole log verified.
func (r Report) OK() bool { return r.Problem == nil }

// Verifier checks entries in ID order, one at a time.
type Verifier struct {
	key     ed25519.PublicKey // nil: the first checkpoint's
	r       Report
	prev    *Entry
	chained bool
}

// NewVerifier returns a Verifier trusting key (nil: the key the first
// checkpoint names, which Report.Key then shows for comparison).
func NewVerifier(key ed25519.PublicKey) *Verifier {
	v := &Verifier{key: key}
	if key != nil {
		v.r.Key = hex.EncodeToString(key)
	}
	return v
}

// Add checks the next entry; after the first problem it only counts.
func (v *Verifier) Add(e Entry) {
	v.r.Entries++
	if v.r.Problem != nil {
		return
	}
	if err := v.check(e); err != nil {
		v.r.BadID, v.r.Problem = e.ID, fmt.Errorf("entry %d %w", e.ID, err)
		return
	}
	v.prev = &e
}

// check checks e against the entry before it.
func (v *Verifier) check(e Entry) error {
	if e.Hash == "" {
		if v.chained {
			return ErrUnchained
		}
		v.r.Legacy++
		return nil
	}
	wantPrev := ""
	if v.prev != nil && v.prev.Hash != "" {
		wantPrev = v.prev.Hash
	}
	if v.chained && (e.PrevHash != wantPrev || e.ID != v.prev.ID+1) {
		return fmt.Errorf("%w (entry %d)", ErrBroken, v.prev.ID)
	}
	v.chained = true
	if Sum(e.PrevHash, e) != e.Hash {
		return ErrBadHash
	}
	if e.Action == CheckpointAction {
		return v.checkpoint(e)
	}
	return nil
}

// checkpoint checks a checkpoint entry's signature over its head.
func (v *Verifier) checkpoint(e Entry) error {
	var c Checkpoint
	if err := json.Unmarshal(e.Detail, &c); err != nil {
		return fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	if c.Head != e.PrevHash || !c.At.Equal(e.Time) {
		return fmt.Errorf("%w: it covers another head or time", ErrBadCheckpoint)
	}
	if v.key == nil {
		k, err := hex.DecodeString(c.Key)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: bad key", ErrBadCheckpoint)
		}
		v.key, v.r.Key = k, c.Key
	}
	sig, err := hex.DecodeString(c.Signature)
	if err != nil || !ed25519.Verify(v.key, SignedBytes(c.Head, c.At), sig) {
		return ErrBadCheckpoint
	}
	v.r.Checkpoints++
	v.r.Last = e.Time
	return nil
}

// Report returns what was found so far.
func (v *Verifier) Report() Report { return v.r }
