package update

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/wardnet/ward/release"
)

// lookup refreshes the TUF metadata from src (root, timestamp, snapshot,
// targets, in go-tuf's client workflow: signatures, thresholds, versions
// never going back, expiry, the snapshot's and timestamp's hashes and
// lengths) and returns target's signed entry and custom metadata. Every
// failure of the workflow is a refusal.
func lookup(ctx context.Context, stateDir string, src Coordinator, target string) (*metadata.TargetFiles, release.Custom, error) {
	root, err := trustedRoot(stateDir)
	if err != nil {
		return nil, release.Custom{}, err
	}
	cfg, err := config.New(metaBase, root)
	if err != nil {
		return nil, release.Custom{}, fmt.Errorf("tuf config: %w", err)
	}
	cfg.LocalMetadataDir = filepath.Join(stateDir, tufDir)
	cfg.LocalTargetsDir = filepath.Join(stateDir, tufDir, "targets")
	cfg.PrefixTargetsWithHash = false
	cfg.Fetcher = tufFetcher{ctx: ctx, src: src}
	up, err := updater.New(cfg)
	if err != nil {
		return nil, release.Custom{}, fmt.Errorf("%w: trusted root: %w", ErrRefused, err)
	}
	if err := up.Refresh(); err != nil {
		return nil, release.Custom{}, refusedUnlessTransport(err, "refresh metadata")
	}
	tf, err := up.GetTargetInfo(target)
	if err != nil {
		return nil, release.Custom{}, refusedUnlessTransport(err, "target "+target)
	}
	c, err := release.ParseCustom(tf.Custom)
	if err != nil {
		return nil, release.Custom{}, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return tf, c, nil
}

// refusedUnlessTransport marks err a refusal unless it is transient.
func refusedUnlessTransport(err error, what string) error {
	if transient(err) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrRefused, what, err)
}
