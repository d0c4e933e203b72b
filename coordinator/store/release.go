package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Releases holds the fleet's TUF repository as the admin published it.
// The store does not read the files: devices verify them.
type Releases interface {
	// PutRelease stores metadata files by name and targets by path in one
	// transaction, replacing files of the same name or path.
	PutRelease(ctx context.Context, metadata, targets map[string][]byte, at time.Time) error
	// ReleaseMetadata returns the metadata file name, else an error
	// wrapping ErrNotFound.
	ReleaseMetadata(ctx context.Context, name string) ([]byte, error)
	// ReleaseTarget returns the target at path, else an error wrapping
	// ErrNotFound.
	ReleaseTarget(ctx context.Context, path string) ([]byte, error)
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
			if _, err := tx.ExecContext(ctx, `INSERT INTO tuf_targets (path, data, updated_at) VALUES (?, ?, ?)
				ON CONFLICT (path) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`, path, b, dbNow(at)); err != nil {
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
func (t releaseTable) ReleaseTarget(ctx context.Context, path string) ([]byte, error) {
	var b []byte
	err := notFound(t.db.r.QueryRowContext(ctx, "SELECT data FROM tuf_targets WHERE path = ?", path).Scan(&b))
	if err != nil {
		return nil, fmt.Errorf("read release target %s: %w", path, err)
	}
	return b, nil
}
