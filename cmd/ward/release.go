//go:build !ward_omit_update

package main

import (
	"cmp"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
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
	var threshold, count string
	cmd := &cobra.Command{Use: "keygen", Short: "Make the root, targets, snapshot and timestamp keys and the first root metadata", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, err := quorums(threshold, count)
			if err != nil {
				return usageError{cmd, err}
			}
			if err := release.KeygenQuorum(f.keys, f.repo, q, f.exp, time.Now()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "keys in %s (owner only: keep them offline); provision devices with %s/%s/1.root.json (ward node --update-root)\n",
				f.keys, f.repo, release.MetadataDir)
			return nil
		}}
	f.addExpiry(cmd.Flags())
	cmd.Flags().StringVar(&threshold, "threshold", "1", "how many keys must sign a role's metadata: N for every role, or per role (root=2,targets=2)")
	cmd.Flags().StringVar(&count, "key-count", "", "how many keys each role has (default: its threshold): M for every role, or per role (root=3,targets=3); key files role.key, role-2.key, …")
	return cmd
}

// quorums parses keygen's --threshold and --key-count: a number for
// every role, or role=number pairs; a role's key count defaults to its
// threshold.
func quorums(threshold, count string) (map[string]release.Quorum, error) {
	th, err := perRole(threshold, 1)
	if err != nil {
		return nil, fmt.Errorf("--threshold: %w", err)
	}
	n, err := perRole(count, 0)
	if err != nil {
		return nil, fmt.Errorf("--key-count: %w", err)
	}
	q := map[string]release.Quorum{}
	for _, r := range release.Roles {
		q[r] = release.Quorum{Keys: cmp.Or(n[r], th[r]), Threshold: th[r]}
	}
	return q, nil
}

// perRole parses "N" (every role N) or "role=N,role=N" (the others def).
func perRole(s string, def int) (map[string]int, error) {
	out := map[string]int{}
	for _, r := range release.Roles {
		out[r] = def
	}
	if s == "" {
		return out, nil
	}
	if v, err := strconv.Atoi(s); err == nil {
		for _, r := range release.Roles {
			out[r] = v
		}
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		role, num, ok := strings.Cut(kv, "=")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !slices.Contains(release.Roles, role) {
			return nil, fmt.Errorf("%q: want N or role=N,… (roles %s)", kv, strings.Join(release.Roles, ", "))
		}
		out[role] = v
	}
	return out, nil
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
	var keyFiles []string
	cmd := &cobra.Command{Use: "sign [--file FILE --target PATH --version V --kind ward|artifact ...]",
		Short: "Sign a target into the repository (or, without --file, renew the metadata's expiry)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target := &t
			if t.File == "" {
				target = nil
			} else if t.Path == "" {
				return usageError{cmd, fmt.Errorf("--target is required with --file")}
			}
			if len(keyFiles) > 0 {
				return release.SignWithKeys(keyFiles, f.repo, target, f.exp, time.Now())
			}
			return release.Sign(f.keys, f.repo, target, f.exp, time.Now())
		}}
	fl := cmd.Flags()
	fl.StringSliceVar(&keyFiles, "key", nil, "sign with these key files (repeat it, one per key holder) rather than every key in --keys; each role needs its threshold")
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
