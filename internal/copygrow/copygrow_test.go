package copygrow

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
)

// scriptReader hands out data, at most max bytes a read (0: as much as
// the buffer takes), records the size of every buffer it was given, and
// ends with end (io.EOF when nil), on the read with the last bytes when
// withLast.
type scriptReader struct {
	data     []byte
	max      int
	end      error
	withLast bool
	sizes    []int
}

func (r *scriptReader) Read(p []byte) (int, error) {
	r.sizes = append(r.sizes, len(p))
	end := r.end
	if end == nil {
		end = io.EOF
	}
	if len(r.data) == 0 {
		return 0, end
	}
	n := len(p)
	if r.max > 0 {
		n = min(n, r.max)
	}
	n = copy(p, r.data[:min(n, len(r.data))])
	r.data = r.data[n:]
	if len(r.data) == 0 && r.withLast {
		return n, end
	}
	return n, nil
}

// scriptWriter keeps what it is given; on write number shortAt (from 1)
// it takes one byte less, and on failAt it fails.
type scriptWriter struct {
	bytes.Buffer
	calls, shortAt, failAt int
}

var errWrite = errors.New("write failed")

func (w *scriptWriter) Write(p []byte) (int, error) {
	w.calls++
	switch w.calls {
	case w.failAt:
		return 0, errWrite
	case w.shortAt:
		return w.Buffer.Write(p[:len(p)-1])
	}
	return w.Buffer.Write(p)
}

func TestCopy(t *testing.T) {
	data := make([]byte, 1<<20+123)
	for i := range data {
		data[i] = byte(i * 7)
	}
	errRead := errors.New("read failed")
	for _, tc := range []struct {
		name      string
		r         scriptReader
		w         scriptWriter
		most      int
		wantErr   error
		wantBytes int
		// wantSizes: the buffer sizes of the first reads.
		wantSizes []int
	}{
		{name: "bulk grows after one full read", most: Bulk, wantBytes: len(data),
			wantSizes: []int{Start, Bulk, Bulk}},
		{name: "short reads keep the start buffer", r: scriptReader{max: 1000}, most: Bulk, wantBytes: len(data),
			wantSizes: []int{Start, Start, Start}},
		{name: "a bound below the start", most: 8 << 10, wantBytes: len(data),
			wantSizes: []int{8 << 10, 8 << 10, 8 << 10}},
		{name: "a bound of the start size never grows", most: Start, wantBytes: len(data),
			wantSizes: []int{Start, Start, Start}},
		{name: "another bound", most: 100 << 10, wantBytes: len(data),
			wantSizes: []int{Start, 100 << 10, 100 << 10}},
		{name: "EOF with the last bytes", r: scriptReader{withLast: true}, most: Bulk, wantBytes: len(data)},
		{name: "a read error after data", r: scriptReader{end: errRead}, most: Bulk, wantErr: errRead, wantBytes: len(data)},
		{name: "a read error with the last bytes", r: scriptReader{end: errRead, withLast: true}, most: Bulk, wantErr: errRead, wantBytes: len(data)},
		{name: "a short write", w: scriptWriter{shortAt: 3}, most: Bulk, wantErr: io.ErrShortWrite,
			wantBytes: Start + 2*Bulk - 1},
		{name: "a write error", w: scriptWriter{failAt: 2}, most: Bulk, wantErr: errWrite, wantBytes: Start},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w := tc.r, tc.w
			r.data = data
			err := Copy(&w, &r, tc.most)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Copy: %v, want %v", err, tc.wantErr)
			}
			if w.Len() != tc.wantBytes || !bytes.Equal(w.Bytes(), data[:w.Len()]) {
				t.Fatalf("wrote %d bytes (equal to the data: %v), want the first %d", w.Len(), bytes.Equal(w.Bytes(), data[:min(w.Len(), len(data))]), tc.wantBytes)
			}
			if tc.wantSizes != nil && !slices.Equal(r.sizes[:len(tc.wantSizes)], tc.wantSizes) {
				t.Errorf("buffer sizes %v..., want %v...", r.sizes[:len(tc.wantSizes)], tc.wantSizes)
			}
		})
	}
}
