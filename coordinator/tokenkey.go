package coordinator

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// TokenKeyFile is the file in the data directory that holds the key the
// IdP refresh tokens are sealed with in the database, unless
// Config.TokenKeyFile names another. Coordinators sharing a database must
// share this key.
const TokenKeyFile = "refresh-token.key"

// sealKeyLen is the key's length: AES-256.
const sealKeyLen = 32

// tokenKey reads the refresh tokens' sealing key from cfg.TokenKeyFile
// (or the data directory's TokenKeyFile), making it, readable by the owner
// only, when the file does not exist.
func tokenKey(cfg Config) ([]byte, error) {
	path := cfg.TokenKeyFile
	if path == "" {
		path = filepath.Join(cfg.DataDir, TokenKeyFile)
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return makeTokenKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read refresh token key: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("refresh token key %s: mode %v lets others read it; make it readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read refresh token key: %w", err)
	}
	if len(key) != sealKeyLen {
		return nil, fmt.Errorf("refresh token key %s: %d bytes, want %d", path, len(key), sealKeyLen)
	}
	return key, nil
}

// makeTokenKey writes a new random key to path, failing if another
// process made one meanwhile.
func makeTokenKey(path string) ([]byte, error) {
	key := make([]byte, sealKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("make refresh token key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("make refresh token key: %w", err)
	}
	_, err = f.Write(key)
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		return nil, fmt.Errorf("write refresh token key: %w", err)
	}
	return key, nil
}
