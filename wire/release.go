package wire

import (
	"fmt"
	"regexp"
)

// PathAdminReleases takes an admin's ReleasePublish (POST, admin API):
// the TUF repository's signed metadata and targets, as `ward release
// publish` reads them from the admin's repository directory. The
// coordinator stores and serves them under PathTUF; it signs nothing.
const PathAdminReleases = "/ward/v1/admin/releases"

// MaxReleaseBytes bounds a ReleasePublish request (its targets included,
// base64 in JSON).
const MaxReleaseBytes = 256 << 20

// ReleasePublish is a publication of the TUF repository: metadata files
// by name ("1.root.json", "3.targets.json", "3.snapshot.json",
// "timestamp.json") and targets by path. Files already published stay;
// one of the same name or path is replaced.
type ReleasePublish struct {
	Metadata map[string][]byte `json:"metadata"`
	Targets  map[string][]byte `json:"targets,omitempty"`
}

var (
	tufMetadataRE = regexp.MustCompile(`^([1-9][0-9]{0,9}\.(root|targets|snapshot)|timestamp)\.json$`)
	tufTargetRE   = regexp.MustCompile(`^[A-Za-z0-9_+-][A-Za-z0-9._+-]*(/[A-Za-z0-9_+-][A-Za-z0-9._+-]*)*$`)
)

// CheckTUFMetadataName refuses a name other than N.root.json,
// N.targets.json, N.snapshot.json and timestamp.json.
func CheckTUFMetadataName(name string) error {
	if !tufMetadataRE.MatchString(name) {
		return fmt.Errorf("tuf metadata name %q: want N.root.json, N.targets.json, N.snapshot.json or timestamp.json", name)
	}
	return nil
}

// CheckTUFTargetPath refuses a target path that is not a clean relative
// path of letters, digits and ._+- (no "..", no leading dot).
func CheckTUFTargetPath(p string) error {
	if len(p) > 512 || !tufTargetRE.MatchString(p) {
		return fmt.Errorf("tuf target path %q: want a relative path of letters, digits and ._+-", p)
	}
	return nil
}

// Check validates a publication from outside.
func (p ReleasePublish) Check() error {
	if len(p.Metadata) == 0 {
		return fmt.Errorf("release: no metadata")
	}
	for name := range p.Metadata {
		if err := CheckTUFMetadataName(name); err != nil {
			return err
		}
	}
	for path := range p.Targets {
		if err := CheckTUFTargetPath(path); err != nil {
			return err
		}
	}
	return nil
}
