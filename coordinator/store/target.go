package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
)

// TargetReader reads a stored TUF target one chunk at a time (an
// io.ReadSeeker, so http.ServeContent serves Range requests from it): it
// holds at most one chunk, TargetChunk bytes, whatever the target's size.
// It is not safe for concurrent use.
type TargetReader struct {
	ctx  context.Context
	db   *db
	path string
	size int64
	off  int64  // the next byte Read returns
	seq  int64  // the chunk held in buf, -1 for none
	buf  []byte // chunk seq's bytes, reused from chunk to chunk
}

// Size is the target's length in bytes.
func (r *TargetReader) Size() int64 { return r.size }

// Read implements io.Reader.
func (r *TargetReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	seq := r.off / TargetChunk
	if seq != r.seq {
		if err := r.load(seq); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf[r.off-seq*TargetChunk:])
	r.off += int64(n)
	return n, nil
}

// load reads chunk seq into buf, checking its length against the size.
func (r *TargetReader) load(seq int64) error {
	r.seq = -1
	rows, err := r.db.r.QueryContext(r.ctx, "SELECT data FROM tuf_target_chunks WHERE path = ? AND seq = ?", r.path, seq)
	if err != nil {
		return fmt.Errorf("read target %s chunk %d: %w", r.path, seq, err)
	}
	defer rows.Close()
	if !rows.Next() {
		// the target was replaced or removed while being read
		return fmt.Errorf("read target %s chunk %d: %w", r.path, seq, errors.Join(ErrConflict, rows.Err()))
	}
	var raw sql.RawBytes // valid until the next Scan or Close: copied into buf
	if err := rows.Scan(&raw); err != nil {
		return fmt.Errorf("read target %s chunk %d: %w", r.path, seq, err)
	}
	want := min(int64(TargetChunk), r.size-seq*TargetChunk)
	if int64(len(raw)) != want {
		return fmt.Errorf("read target %s chunk %d: %w: %d bytes, want %d (replaced while read)", r.path, seq, ErrConflict, len(raw), want)
	}
	r.buf = append(r.buf[:0], raw...)
	r.seq = seq
	return rows.Close()
}

// Seek implements io.Seeker.
func (r *TargetReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, fmt.Errorf("seek target %s: whence %d", r.path, whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("seek target %s: negative offset %d", r.path, offset)
	}
	r.off = offset
	return offset, nil
}
