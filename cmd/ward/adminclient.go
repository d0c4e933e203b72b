package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/wire"
)

// adminClient calls the coordinator's admin API with an API key.
type adminClient struct {
	base string
	key  string
	http *http.Client
}

// adminFlags are the connection flags every `ward admin` command shares.
type adminFlags struct {
	coordinator string
	keyFile     string
	asJSON      bool
}

// client builds an adminClient. The API key comes from WARD_API_KEY or a
// file (never a flag, which ps would show).
func (f *adminFlags) client() (*adminClient, error) {
	key := strings.TrimSpace(os.Getenv("WARD_API_KEY"))
	if key == "" {
		path := f.keyFile
		if path == "" {
			path = filepath.Join(defaultDataDir(), coordinator.BootstrapKeyFile)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("no API key: set WARD_API_KEY or --api-key-file (%w)", err)
		}
		key = strings.TrimSpace(string(b))
	}
	return &adminClient{base: strings.TrimRight(f.coordinator, "/"), key: key, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// do sends a JSON request and decodes a JSON answer into out (if non-nil).
func (c *adminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return apiError(resp.StatusCode, b)
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, out)
}

func apiError(code int, body []byte) error {
	var pe wire.PolicyError
	if json.Unmarshal(body, &pe) == nil && len(pe.Problems) > 0 {
		return fmt.Errorf("%s (HTTP %d):\n%s", pe.Error, code, strings.Join(pe.Problems, "\n"))
	}
	var e wire.Error
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return fmt.Errorf("%s (HTTP %d)", e.Error, code)
	}
	return fmt.Errorf("HTTP %d: %s", code, strings.TrimSpace(string(body)))
}
