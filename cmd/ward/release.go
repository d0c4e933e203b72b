//go:build !ward_omit_update

package main

import (
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wardnet/ward/release"
	"github.com/wardnet/ward/wire"
)

// releaseFlags are the flags `ward release`'s commands share.
type releaseFlags struct {
	keys, repo string
	exp        release.Expiry
}

func (f *releaseFlags) addExpiry(fs *pflag.FlagSet) {
	d := release.DefaultExpiry()
	fs.DurationVar(&f.exp.Root, "root-expires", d.Root, "how long a new root metadata lives")
	fs.DurationVar(&f.exp.Targets, "targets-expires", d.Targets, "how long the targets metadata lives")
	fs.DurationVar(&f.exp.Snapshot, "snapshot-expires", d.Snapshot, "how long the snapshot metadata lives")
	fs.DurationVar(&f.exp.Timestamp, "timestamp-expires", d.Timestamp, "how long the timestamp metadata lives (re-sign before: `ward release sign` with no --file)")
}

// newReleaseCmd is `ward release`: the admin's offline TUF tools and the
// upload of what they signed.
func newReleaseCmd() *cobra.Command {
	var f releaseFlags
	cmd := &cobra.Command{Use: "release", Short: "Sign updates for devices offline (TUF) and publish them to the coordinator",
		Long: "The fleet's update repository (The Update Framework). keygen, rotate and sign run on the\n" +
			"admin's offline machine with the key directory; publish uploads the signed repository (never\n" +
			"a key) to the coordinator, which serves it to nodes. See README, \"Updating devices\"."}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.keys, "keys", "ward-keys", "directory of the role keys (keep it offline)")
	pf.StringVar(&f.repo, "repo", "ward-repo", "directory of the signed repository (metadata/, targets/)")
	cmd.AddCommand(newReleaseKeygenCmd(&f), newReleaseRotateCmd(&f), newReleaseSignCmd(&f), newReleasePublishCmd(&f))
	return cmd
}

func newReleaseKeygenCmd(f *releaseFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "keygen", Short: "Make the root, targets, snapshot and timestamp keys and the first root metadata", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := release.Keygen(f.keys, f.repo, f.exp, time.Now()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "keys in %s (owner only: keep them offline); provision devices with %s/%s/1.root.json (ward node --update-root)\n",
				f.keys, f.repo, release.MetadataDir)
			return nil
		}}
	f.addExpiry(cmd.Flags())
	return cmd
}

func newReleaseRotateCmd(f *releaseFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "rotate ROLE", Short: "Replace a role's key: a new root version lists it (publish it)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return release.Rotate(f.keys, f.repo, args[0], f.exp, time.Now())
		}}
	f.addExpiry(cmd.Flags())
	return cmd
}

func newReleaseSignCmd(f *releaseFlags) *cobra.Command {
	var t release.Target
	cmd := &cobra.Command{Use: "sign [--file FILE --target PATH --version V --kind ward|artifact ...]",
		Short: "Sign a target into the repository (or, without --file, renew the metadata's expiry)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if t.File == "" {
				return release.Sign(f.keys, f.repo, nil, f.exp, time.Now())
			}
			if t.Path == "" {
				return usageError{cmd, fmt.Errorf("--target is required with --file")}
			}
			return release.Sign(f.keys, f.repo, &t, f.exp, time.Now())
		}}
	fl := cmd.Flags()
	fl.StringVar(&t.File, "file", "", "the file to sign")
	fl.StringVar(&t.Path, "target", "", "its path in the repository (ward/linux-arm64/ward-1.4.0)")
	fl.StringVar(&t.Custom.Version, "version", "", "its version (1.4.0)")
	fl.StringVar(&t.Custom.Kind, "kind", wire.UpdateKindWard, "ward (the agent) or artifact (the device's own software)")
	fl.StringVar(&t.Custom.GOOS, "goos", runtime.GOOS, "the OS it runs on (\"\": any, artifacts only)")
	fl.StringVar(&t.Custom.GOARCH, "goarch", runtime.GOARCH, "the architecture it runs on (\"\": any, artifacts only)")
	fl.StringVar(&t.Custom.Model, "model", "", "the device-model label it is for (\"\": any)")
	fl.StringVar(&t.Custom.Install, "install", "", "an artifact's install command (sh -c; WARD_UPDATE_FILE names the verified file)")
	fl.BoolVar(&t.Custom.Rollback, "rollback", false, "let devices install it although it is older than what they run")
	f.addExpiry(fl)
	return cmd
}

func newReleasePublishCmd(f *releaseFlags) *cobra.Command {
	var af adminFlags
	var only []string
	cmd := &cobra.Command{Use: "publish", Short: "Upload the signed repository to the coordinator (admin API)", Args: cobra.NoArgs,
		RunE: run(&af, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			files, err := release.Load(f.repo, only)
			if err != nil {
				return err
			}
			p := wire.ReleasePublish{Metadata: files.Metadata, Targets: files.Targets}
			if err := c.do(cmd.Context(), http.MethodPost, wire.PathAdminReleases, p, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "published %d metadata files and %d targets\n", len(p.Metadata), len(p.Targets))
			return nil
		})}
	af.addFlags(cmd.Flags())
	cmd.Flags().StringSliceVar(&only, "target", nil, "upload only these targets (default: every target the repository lists)")
	return cmd
}
