//go:build !ward_omit_admin

package main

import (
	"bufio"
	"cmp"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/auditchain"
	"github.com/wardnet/ward/wire"
)

// errAuditBroken is returned when verify finds an entry that does not fit.
var errAuditBroken = errors.New("the audit log does not verify")

// newAdminAuditVerifyCmd is `ward admin audit verify`: the live store's
// chain, checked by the coordinator, or an export's (JSON lines), checked
// here.
func newAdminAuditVerifyCmd(f *adminFlags) *cobra.Command {
	var file, pubHex string
	cmd := &cobra.Command{Use: "verify", Short: "Check the audit log's hash chain and signed checkpoints (live, or an export with --file)",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var v wire.AuditVerify
			if file != "" {
				key, err := parsePublicKey(pubHex)
				if err != nil {
					return usageError{cmd, err}
				}
				if v, err = verifyExportFile(file, key); err != nil {
					return err
				}
			} else {
				c, err := f.client()
				if err != nil {
					return err
				}
				if err := c.do(cmd.Context(), http.MethodGet, wire.PathAdminAuditVerify, nil, &v); err != nil {
					return err
				}
			}
			return printVerify(cmd.OutOrStdout(), f.asJSON, v)
		}}
	cmd.Flags().StringVar(&file, "file", "", "an audit export (JSON lines, from "+wire.PathAdminAuditExport+"?format=jsonl) to check here instead of the live store")
	cmd.Flags().StringVar(&pubHex, "public-key", "", "the coordinator's checkpoint key (hex) to trust; default: the key the export's first checkpoint names (printed: compare it)")
	return cmd
}

// parsePublicKey reads a hex Ed25519 public key; "" is none.
func parsePublicKey(s string) (ed25519.PublicKey, error) {
	if s == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("--public-key: not a hex Ed25519 public key")
	}
	return b, nil
}

// verifyExportFile checks an export's entries in ID order.
func verifyExportFile(path string, key ed25519.PublicKey) (wire.AuditVerify, error) {
	f, err := os.Open(path)
	if err != nil {
		return wire.AuditVerify{}, err
	}
	defer f.Close()
	es, err := readEntries(f)
	if err != nil {
		return wire.AuditVerify{}, fmt.Errorf("read %s: %w", path, err)
	}
	v := auditchain.NewVerifier(key)
	for _, e := range es {
		v.Add(e)
	}
	r := v.Report()
	out := wire.AuditVerify{OK: r.OK(), Entries: r.Entries, Legacy: r.Legacy, Checkpoints: r.Checkpoints,
		LastCheckpoint: r.Last, Key: r.Key, BadID: r.BadID}
	if r.Problem != nil {
		out.Problem = r.Problem.Error()
	}
	return out, nil
}

// readEntries reads JSON lines of audit entries, sorted by ID.
func readEntries(r io.Reader) ([]auditchain.Entry, error) {
	var es []auditchain.Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e auditchain.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b auditchain.Entry) int { return cmp.Compare(a.ID, b.ID) })
	return es, sc.Err()
}

// printVerify prints v and returns errAuditBroken when it failed.
func printVerify(w io.Writer, asJSON bool, v wire.AuditVerify) error {
	if asJSON {
		if err := writeJSON(w, v); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "entries: %d (%d before the chain began)\ncheckpoints: %d, last %s\nkey: %s\n",
			v.Entries, v.Legacy, v.Checkpoints, v.LastCheckpoint.Format(time.RFC3339), v.Key)
		if v.OK {
			fmt.Fprintln(w, "ok: every entry fits the chain")
		} else {
			fmt.Fprintf(w, "FIRST BAD ENTRY: %d: %s\n", v.BadID, v.Problem)
		}
	}
	if !v.OK {
		return fmt.Errorf("%w: entry %d: %s", errAuditBroken, v.BadID, v.Problem)
	}
	return nil
}
