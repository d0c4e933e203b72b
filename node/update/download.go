package update

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/wardnet/ward/apicall"
)

// downloadDir holds downloads in progress (NAME.part) and done.
const downloadDir = "update"

// Backoff paces a download's retries: Min, doubling to Max, for at most
// Tries attempts; a Retry-After the coordinator sends is honoured. An
// attempt that receives nothing for Stall ends (the next one resumes).
type Backoff struct {
	Min, Max time.Duration
	Tries    int
	Stall    time.Duration
}

// DefaultBackoff: 1 s doubling to a minute, 10 tries, a minute's stall.
func DefaultBackoff() Backoff {
	return Backoff{Min: time.Second, Max: time.Minute, Tries: 10, Stall: time.Minute}
}

// progressFunc hears how much of a download is done, 0 to 100.
type progressFunc func(pct int)

// download fetches tf into stateDir/update/HASH.part, resuming a partial
// file left by an earlier attempt (or an earlier run) with a Range
// request, retrying transient failures with b, and returns its path (see
// finish). More bytes than the signed length are refused and the partial
// file removed.
func download(ctx context.Context, stateDir string, src Coordinator, tf *metadata.TargetFiles, b Backoff, progress progressFunc) (string, error) {
	name, err := fileName(tf)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(stateDir, downloadDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("download %s: %w", tf.Path, err)
	}
	part := filepath.Join(dir, name+".part")
	wait := b.Min
	for try := 1; ; try++ {
		err = fetchOnce(ctx, src, tf, part, b.Stall, progress)
		if err == nil || !transient(err) || try >= b.Tries || ctx.Err() != nil {
			break
		}
		d := wait
		if ra, ok := apicall.RetryAfter(err); ok && ra > d {
			d = ra
		}
		select {
		case <-ctx.Done():
			return "", context.Cause(ctx)
		case <-time.After(d):
		}
		wait = min(2*wait, b.Max)
	}
	if err != nil {
		if !transient(err) {
			os.Remove(part)
		}
		return "", fmt.Errorf("download %s: %w", tf.Path, err)
	}
	return part, nil
}

// finish verifies a downloaded file against its signed length and hashes
// and names it done; a file that does not match is removed.
func finish(part string, tf *metadata.TargetFiles) (string, error) {
	if err := verifyFile(part, tf); err != nil {
		os.Remove(part)
		return "", fmt.Errorf("verify %s: %w", tf.Path, err)
	}
	done := strings.TrimSuffix(part, ".part")
	if err := os.Rename(part, done); err != nil {
		return "", fmt.Errorf("verify %s: %w", tf.Path, err)
	}
	return done, nil
}

// fileName names a download by its signed hash, so that a partial file
// resumes only the same content.
func fileName(tf *metadata.TargetFiles) (string, error) {
	h, ok := tf.Hashes["sha256"]
	if !ok {
		return "", fmt.Errorf("%w: target %s has no sha256 hash", ErrRefused, tf.Path)
	}
	return hex.EncodeToString(h), nil
}

// fetchOnce appends to part what the coordinator sends from part's size
// on, never past the signed length, and gives up once nothing came for
// stall.
func fetchOnce(ctx context.Context, src Coordinator, tf *metadata.TargetFiles, part string, stall time.Duration, progress progressFunc) error {
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if have > tf.Length {
		return fmt.Errorf("%w: partial file longer than the signed %d bytes", ErrRefused, tf.Length)
	}
	if have == tf.Length {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := time.AfterFunc(stall, cancel)
	defer idle.Stop()
	resp, err := src.GetTUF(ctx, "targets/"+tf.Path, have)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if have, err = resumeAt(f, resp, have); err != nil {
		return err
	}
	w := &progressWriter{w: f, done: have, total: tf.Length, report: progress, idle: idle, stall: stall}
	n, err := io.Copy(w, io.LimitReader(resp.Body, tf.Length-have+1))
	if have+n > tf.Length {
		return fmt.Errorf("%w: the coordinator sent more than the signed %d bytes", ErrRefused, tf.Length)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", apicall.ErrUnreachable, err)
	}
	if have+n < tf.Length {
		return fmt.Errorf("%w: the answer ended at %d of %d bytes", apicall.ErrUnreachable, have+n, tf.Length)
	}
	return f.Sync()
}

// resumeAt positions f for resp: a 206 from have on appends, a 200 (the
// server ignored the Range) starts over. It returns where writing starts.
func resumeAt(f *os.File, resp *http.Response, have int64) (int64, error) {
	if resp.StatusCode == http.StatusPartialContent {
		start, ok := rangeStart(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			return 0, fmt.Errorf("%w: content range %q does not start at %d", ErrRefused, resp.Header.Get("Content-Range"), have)
		}
		return have, nil
	}
	if err := f.Truncate(0); err != nil {
		return 0, err
	}
	_, err := f.Seek(0, io.SeekStart)
	return 0, err
}

// rangeStart reads the first byte of "bytes START-END/TOTAL".
func rangeStart(cr string) (int64, bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	s, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// verifyFile checks path's length and every signed hash.
func verifyFile(path string, tf *metadata.TargetFiles) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	hs := map[string]hash.Hash{}
	var ws []io.Writer
	for alg := range tf.Hashes {
		switch alg {
		case "sha256":
			hs[alg] = sha256.New()
		case "sha512":
			hs[alg] = sha512.New()
		default:
			continue
		}
		ws = append(ws, hs[alg])
	}
	if len(hs) == 0 {
		return fmt.Errorf("%w: no hash this device knows", ErrRefused)
	}
	n, err := io.Copy(io.MultiWriter(ws...), f)
	if err != nil {
		return err
	}
	if n != tf.Length {
		return fmt.Errorf("%w: %d bytes, signed as %d", ErrRefused, n, tf.Length)
	}
	for alg, h := range hs {
		if !bytes.Equal(h.Sum(nil), tf.Hashes[alg]) {
			return fmt.Errorf("%w: the %s hash does not match the signed one: the target was altered", ErrRefused, alg)
		}
	}
	return nil
}

// progressWriter reports each 10 % of a download and pushes its idle
// timer back with every write.
type progressWriter struct {
	w           io.Writer
	done, total int64
	last        int
	report      progressFunc
	idle        *time.Timer
	stall       time.Duration
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.idle.Reset(p.stall)
	n, err := p.w.Write(b)
	p.done += int64(n)
	if pct := int(p.done * 100 / max(p.total, 1)); p.report != nil && pct/10 > p.last/10 {
		p.last = pct
		p.report(pct)
	}
	return n, err
}
