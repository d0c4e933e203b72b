package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// TargetChunk is the size of the chunks a TUF target is stored in (the
// last one may be shorter): what a coordinator holds in memory per
// download.
const TargetChunk = 1 << 20

// Releases holds the fleet's TUF repository as the admin published it.
// The store does not read the files: devices verify them.
type Releases interface {
	// PutRelease stores metadata files by name and targets by path in one
	// transaction, replacing files of the same name or path.
	PutRelease(ctx context.Context, metadata, targets map[string][]byte, at time.Time) error
	// ReleaseMetadata returns the metadata file name, else an error
	// wrapping ErrNotFound.
	ReleaseMetadata(ctx context.Context, name string) ([]byte, error)
	// ReleaseTarget opens the target at path for reading, one chunk at a
	// time, else returns an error wrapping ErrNotFound. The reader reads
	// with ctx.
	ReleaseTarget(ctx context.Context, path string) (*TargetReader, error)
}

// releaseTable implements Releases.
type releaseTable struct{ db *db }

// PutRelease implements Releases.
func (t releaseTable) PutRelease(ctx context.Context, metadata, targets map[string][]byte, at time.Time) error {
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		for name, b := range metadata {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tuf_metadata (name, data, updated_at) VALUES (?, ?, ?)
				ON CONFLICT (name) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`, name, b, dbNow(at)); err != nil {
				return err
			}
		}
		for path, b := range targets {
			if err := putTarget(ctx, tx, path, b, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store release: %w", err)
	}
	return nil
}

// putTarget stores target path as its size and its chunks, replacing
// those of an earlier target of the same path.
func putTarget(ctx context.Context, tx *sql.Tx, path string, b []byte, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO tuf_targets (path, size, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (path) DO UPDATE SET size = excluded.size, updated_at = excluded.updated_at`, path, len(b), dbNow(at)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM tuf_target_chunks WHERE path = ?", path); err != nil {
		return err
	}
	for seq := 0; seq*TargetChunk < len(b); seq++ {
		chunk := b[seq*TargetChunk : min(len(b), (seq+1)*TargetChunk)]
		if _, err := tx.ExecContext(ctx, "INSERT INTO tuf_target_chunks (path, seq, data) VALUES (?, ?, ?)", path, seq, chunk); err != nil {
			return err
		}
	}
	return nil
}

// ReleaseMetadata implements Releases.
func (t releaseTable) ReleaseMetadata(ctx context.Context, name string) ([]byte, error) {
	var b []byte
	err := notFound(t.db.r.QueryRowContext(ctx, "SELECT data FROM tuf_metadata WHERE name = ?", name).Scan(&b))
	if err != nil {
		return nil, fmt.Errorf("read release metadata %s: %w", name, err)
	}
	return b, nil
}

// ReleaseTarget implements Releases.
func (t releaseTable) ReleaseTarget(ctx context.Context, path string) (*TargetReader, error) {
	var size int64
	err := notFound(t.db.r.QueryRowContext(ctx, "SELECT size FROM tuf_targets WHERE path = ?", path).Scan(&size))
	if err != nil {
		return nil, fmt.Errorf("read release target %s: %w", path, err)
	}
	return &TargetReader{ctx: ctx, db: t.db, path: path, size: size, seq: -1}, nil
}
