package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/wardnet/ward/wire"
)

// Custom is a target's custom metadata, signed with it in targets.json:
// what the target is and where it may be installed.
type Custom struct {
	// Version is the target's version ("1.4.0", "v2.0.1-rc1").
	Version string `json:"version"`
	// GOOS and GOARCH name the platform the target runs on; required for
	// UpdateKindWard, optional ("" any) for artifacts.
	GOOS   string `json:"goos,omitempty"`
	GOARCH string `json:"goarch,omitempty"`
	// Model is the device-model label the target is for; "" any model.
	Model string `json:"model,omitempty"`
	// Kind is wire.UpdateKindWard or wire.UpdateKindArtifact.
	Kind string `json:"kind"`
	// Install is an artifact's install command (run by /bin/sh -c, or cmd
	// /C on Windows, with WARD_UPDATE_FILE set to the verified file);
	// empty for UpdateKindWard.
	Install string `json:"install,omitempty"`
	// Rollback lets a device install this target although it is older
	// than what it runs: the admin signs the downgrade explicitly.
	Rollback bool `json:"rollback,omitempty"`
}

// Check validates c as a signer or a device reads it.
func (c Custom) Check() error {
	if _, err := ParseVersion(c.Version); err != nil {
		return err
	}
	switch c.Kind {
	case wire.UpdateKindWard:
		if c.GOOS == "" || c.GOARCH == "" {
			return errors.New("a ward target needs goos and goarch")
		}
		if c.Install != "" {
			return errors.New("a ward target has no install command")
		}
	case wire.UpdateKindArtifact:
		if c.Install == "" {
			return errors.New("an artifact needs an install command")
		}
	default:
		return fmt.Errorf("unknown kind %q", c.Kind)
	}
	return nil
}

// Marshal returns c as the raw JSON TargetFiles.Custom holds.
func (c Custom) Marshal() (*json.RawMessage, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("marshal custom metadata: %w", err)
	}
	raw := json.RawMessage(b)
	return &raw, nil
}

// ParseCustom reads a target's custom metadata; a target without it, or
// with metadata that does not check, is an error.
func ParseCustom(raw *json.RawMessage) (Custom, error) {
	var c Custom
	if raw == nil {
		return c, errors.New("target has no custom metadata")
	}
	if err := json.Unmarshal(*raw, &c); err != nil {
		return c, fmt.Errorf("target's custom metadata: %w", err)
	}
	if err := c.Check(); err != nil {
		return c, fmt.Errorf("target's custom metadata: %w", err)
	}
	return c, nil
}

// Version is a parsed version: numbers then an optional pre-release,
// which sorts before the release ("1.4.0-rc1" < "1.4.0").
type Version struct {
	nums []int
	pre  string
}

// ParseVersion parses "1.4.0", "v1.4", "2.0.1-rc1"; anything else is an
// error.
func ParseVersion(s string) (Version, error) {
	core, pre, _ := strings.Cut(strings.TrimPrefix(s, "v"), "-")
	var v Version
	for _, p := range strings.Split(core, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return Version{}, fmt.Errorf("version %q: want numbers separated by dots", s)
		}
		v.nums = append(v.nums, n)
	}
	v.pre = pre
	return v, nil
}

// Compare returns -1, 0 or 1 as v sorts before, with or after w.
func (v Version) Compare(w Version) int {
	for i := range max(len(v.nums), len(w.nums)) {
		a, b := at(v.nums, i), at(w.nums, i)
		if a != b {
			if a < b {
				return -1
			}
			return 1
		}
	}
	switch {
	case v.pre == w.pre:
		return 0
	case v.pre == "":
		return 1
	case w.pre == "":
		return -1
	case v.pre < w.pre:
		return -1
	}
	return 1
}

func at(nums []int, i int) int {
	if i < len(nums) {
		return nums[i]
	}
	return 0
}
