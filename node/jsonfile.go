package node

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/wardnet/ward/node/privfile"
)

// readJSON reads the private file dir/name (see privfile.Read), at most
// limit bytes, and decodes it into v.
func readJSON(dir, name string, limit int64, v any) error {
	b, err := privfile.Read(dir, name, limit)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	return nil
}

// writeJSON writes v as indented JSON to the private file dir/name,
// atomically and durably (see privfile.Write).
func writeJSON(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return privfile.Write(dir, name, b)
}
