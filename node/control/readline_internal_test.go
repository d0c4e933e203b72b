package control

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// chunkReader returns r's bytes in reads of the sizes next gives.
type chunkReader struct {
	r    io.Reader
	next func() int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	return c.r.Read(p[:min(len(p), c.next())])
}

// TestReadLineStream: a stream of lines short and long (over the read
// buffer, over a long line's largest read), each followed by a run of
// raw bytes as binary blocks follow a line, reads back exactly through
// readLine and the bufio.Reader after it, whatever sizes the stream's
// reads come in: a byte at a time, at random, or all at once (a long
// line's read then takes the raw bytes and the next lines, which must
// come back in order).
func TestReadLineStream(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type msg struct {
		line string // without its newline
		raw  []byte
	}
	var msgs []msg
	var stream bytes.Buffer
	for i, n := range []int{10, 63, 64, 65, 200, 5000, longLineRead - 1, longLineRead, longLineRead + 1, 3*longLineRead + 17, 0, 100} {
		line := strings.Repeat(string(rune('a'+i%26)), n)
		raw := make([]byte, rng.IntN(3)*rng.IntN(70000))
		for j := range raw {
			raw[j] = byte(rng.Uint32()) // newlines too: the raw bytes are no lines
		}
		msgs = append(msgs, msg{line, raw})
		stream.WriteString(line + "\n")
		stream.Write(raw)
	}
	readers := map[string]func(r io.Reader) io.Reader{
		"one byte": iotest.OneByteReader,
		"at once":  func(r io.Reader) io.Reader { return r },
		"random": func(r io.Reader) io.Reader {
			rr := rand.New(rand.NewPCG(3, 4))
			return &chunkReader{r: r, next: func() int { return 1 + rr.IntN(40000) }}
		},
	}
	for name, wrap := range readers {
		t.Run(name, func(t *testing.T) {
			src := &streamReader{r: wrap(bytes.NewReader(stream.Bytes()))}
			br := bufio.NewReaderSize(src, 64)
			for i, m := range msgs {
				line, lb, err := readLine(br, src, 1<<20)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if got := string(line); got != m.line+"\n" {
					t.Fatalf("message %d: line of %d bytes, want %d", i, len(got), len(m.line)+1)
				}
				if long := len(m.line)+1 > 64; long != (lb != nil) {
					t.Errorf("message %d (%d bytes): pooled buffer %v, want %v", i, len(line), lb != nil, long)
				}
				lb.release()
				raw := make([]byte, len(m.raw))
				if _, err := io.ReadFull(br, raw); err != nil {
					t.Fatalf("message %d: raw bytes: %v", i, err)
				}
				if !bytes.Equal(raw, m.raw) {
					t.Fatalf("message %d: raw bytes differ", i)
				}
			}
			if _, _, err := readLine(br, src, 1<<20); !errors.Is(err, io.EOF) {
				t.Errorf("after the last message: %v, want EOF", err)
			}
			if src.pending != nil {
				t.Errorf("%d bytes left pending at the end", len(src.pending))
			}
		})
	}
}

// TestReadLineLimit: a line over the limit is refused, in br's buffer or
// past it, and so is a stream that ends inside a line.
func TestReadLineLimit(t *testing.T) {
	for _, c := range []struct {
		name  string
		input string
		limit int
		want  error
	}{
		{"short over", strings.Repeat("x", 40) + "\n", 20, ErrProtocol},
		{"long over", strings.Repeat("x", 10000) + "\n", 5000, ErrProtocol},
		{"long at limit", strings.Repeat("x", 4999) + "\n", 5000, nil},
		{"endless", strings.Repeat("x", 3*longLineRead), 10 * longLineRead, io.EOF},
		{"cut short", strings.Repeat("x", 10), 5000, io.EOF},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := &streamReader{r: strings.NewReader(c.input)}
			br := bufio.NewReaderSize(src, 64)
			line, lb, err := readLine(br, src, c.limit)
			switch {
			case c.want == nil && err != nil:
				t.Fatalf("readLine: %v", err)
			case c.want == nil && len(line) != len(c.input):
				t.Fatalf("line of %d bytes, want %d", len(line), len(c.input))
			case c.want != nil && !errors.Is(err, c.want):
				t.Fatalf("readLine: %v, want %v", err, c.want)
			}
			lb.release()
		})
	}
}

// BenchmarkReadLongLine reads a gateway's 600 KB line through a 4 KB
// buffer (a simulated node's) from a reader that has all of it, as a
// loaded node's HTTP/2 body does: the reads it makes are the
// WINDOW_UPDATEs the client sends.
func BenchmarkReadLongLine(b *testing.B) {
	input := []byte(strings.Repeat("x", 600<<10) + "\n")
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	reads := 0
	for b.Loop() {
		cr := &countReader{r: bytes.NewReader(input)}
		src := &streamReader{r: cr}
		br := bufio.NewReaderSize(src, 4<<10)
		_, lb, err := readLine(br, src, 32<<20)
		if err != nil {
			b.Fatal(err)
		}
		lb.release()
		reads = cr.n
	}
	b.ReportMetric(float64(reads), "reads/line")
}

type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) { c.n++; return c.r.Read(p) }
