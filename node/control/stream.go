package control

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/wardnet/ward/apicall"
	"github.com/wardnet/ward/wire"
)

const (
	// DefaultMapIdleTimeout ends a silent map stream. The node tells the
	// coordinator (wire.MapIdleParam), which sends a keep-alive every
	// third of it, at most every 45 s (so 45 s; an older coordinator
	// every 15 s).
	//
	// Reason for 135 s, three of the coordinator's longest intervals
	// (coordinator Config.MaxKeepAlive, under common load balancers' 60 s
	// idle timeouts): an idle coordinator's CPU is its keep-alives' writes,
	// and at 120 s every node asked for one every 40 s, 12.5 % more than
	// the coordinator would send. A dead coordinator's stream ends 15 s
	// later; a node still waits out three keep-alives before it calls a
	// stream silent.
	DefaultMapIdleTimeout = 135 * time.Second
	// MaxMapMessage bounds one map stream message (one line).
	MaxMapMessage = 32 << 20
	// DefaultMapReadBuffer is the map stream's read buffer
	// (Config.MapReadBuffer). A longer message is read in pieces of it.
	DefaultMapReadBuffer = 64 << 10
	// minMapReadBuffer is the smallest read buffer a Config may ask for.
	minMapReadBuffer = 16
	// DefaultRouterBeat is the beat interval of a subnet router
	// (Config.Beat): its routes move within wire.MissedBeats of them,
	// about 3 s, of it stopping.
	DefaultRouterBeat = time.Second
)

// errIdle ends a map stream that stayed silent too long.
var errIdle = errors.New("map stream idle")

// MapHandler receives what the map stream delivers. The Client calls its
// methods from the one goroutine running FollowMap, in order. The
// KeyExpiry times of the messages it passes are on the node's clock
// (converted from the coordinator's; see Client.LocalTime).
type MapHandler interface {
	// HandleMap is called with every message but keep-alives. An error
	// ends the stream and makes the next one start from scratch (since=0,
	// so the coordinator sends a full map).
	HandleMap(m wire.MapResponse) error
	// SetConnected is called with true when a stream opens and false when
	// it ends.
	SetConnected(connected bool)
}

// FollowMap follows the map stream from version since (0 for a full map;
// the version of a map the node kept across a restart, to resume it) until
// ctx is done, reconnecting with backoff and jitter and resuming from the
// last version it saw. It returns ctx's error.
func (c *Client) FollowMap(ctx context.Context, since uint64, h MapHandler) error {
	failures := 0
	for ctx.Err() == nil {
		last, got, err := c.StreamMap(ctx, since, h)
		if ctx.Err() != nil {
			break
		}
		since = last
		if got {
			failures = 0
		}
		d := c.backoff.Delay(failures)
		if ra, ok := RetryAfter(err); ok && ra > d {
			// The coordinator admits streams at a bounded rate (a fleet
			// reconnecting after its restart): come back when it says,
			// spread further so that the refused do not return together.
			d = ra + rand.N(ra/2+1)
		}
		failures++
		c.log.Info("map stream ended, reconnecting", "err", err, "since", since, "in", d.Round(time.Millisecond))
		sleep(ctx, d)
	}
	return ctx.Err()
}

// StreamMap runs one map stream from version since (0 for a full map) and
// passes its messages to h until the stream ends, ctx is done or h fails.
// It returns the version to resume from (0 after a handler error), whether
// any message arrived, and why the stream ended.
func (c *Client) StreamMap(ctx context.Context, since uint64, h MapHandler) (uint64, bool, error) {
	resp, cancel, err := c.openMap(ctx, since)
	if err != nil {
		return since, false, err
	}
	defer cancel(nil)
	defer resp.Body.Close()
	if c.beats() {
		bctx, stop := context.WithCancel(ctx)
		defer stop()
		go c.beatLoop(bctx)
	}
	h.SetConnected(true)
	defer h.SetConnected(false)
	return c.readMap(ctx, resp.Body, cancel, since, h)
}

// openMap starts the GET, retrying once with a new session on 401. The
// returned cancel ends the request.
func (c *Client) openMap(ctx context.Context, since uint64) (*http.Response, context.CancelCauseFunc, error) {
	for attempt := 0; ; attempt++ {
		s, err := c.Session(ctx)
		if err != nil {
			return nil, nil, err
		}
		resp, cancel, err := c.getMap(ctx, since, s.Token)
		if attempt == 0 && errors.Is(err, ErrUnauthorized) {
			c.DropSession(s.Token)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("open map stream: %w", err)
		}
		return resp, cancel, nil
	}
}

func (c *Client) getMap(ctx context.Context, since uint64, token string) (*http.Response, context.CancelCauseFunc, error) {
	rctx, cancel := context.WithCancelCause(ctx)
	q := url.Values{wire.MapIdleParam: {strconv.FormatInt(c.mapIdle.Milliseconds(), 10)},
		wire.MapVersionParam: {strconv.Itoa(wire.ProtocolVersion)}}
	if c.beats() {
		q.Set(wire.MapBeatParam, strconv.FormatInt(c.beat.Milliseconds(), 10))
	}
	if since > 0 {
		q.Set(wire.MapSinceParam, strconv.FormatUint(since, 10))
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, c.endpoint(wire.PathMap, q), nil)
	if err != nil {
		cancel(nil)
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http.Do(req)
	if err != nil {
		cancel(nil)
		return nil, nil, apicall.Unreachable(ctx, serverName, err)
	}
	if err := apicall.Check(resp, serverName); err != nil {
		resp.Body.Close()
		cancel(nil)
		return nil, nil, err
	}
	return resp, cancel, nil
}

// beats reports whether the node beats on its map streams: it asked to
// (Config.Beat) and the coordinator knows beats.
func (c *Client) beats() bool {
	return c.beat > 0 && wire.Supports(c.ServerVersion(), wire.FeatureRouterBeat)
}

// beatLoop posts a beat (wire.PathBeat) every beat interval until ctx is
// done. A failed beat is logged once per run of failures; the next tick
// tries again.
func (c *Client) beatLoop(ctx context.Context) {
	t := time.NewTicker(c.beat)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := c.call(ctx, request{path: wire.PathBeat, timeout: wire.MissedBeats * c.beat}, nil)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			c.log.Warn("beat to the coordinator failed", "err", err)
			failing = true
		case err == nil:
			failing = false
		}
	}
}

// readMap decodes messages from body until it fails. A stream silent for
// the idle timeout is cancelled.
func (c *Client) readMap(ctx context.Context, body io.Reader, cancel context.CancelCauseFunc, since uint64, h MapHandler) (uint64, bool, error) {
	idle := time.AfterFunc(c.mapIdle, func() { cancel(errIdle) })
	defer idle.Stop()
	src := &streamReader{r: body}
	br := bufio.NewReaderSize(src, c.mapReadBuffer)
	got := false
	for {
		if c.mapGate != nil {
			// Wait for the message's first byte without a slot, then take
			// one: a stream that waits for its next message holds none.
			if _, err := br.Peek(1); err != nil {
				return since, got, readErr(ctx, err)
			}
			// Bytes came: the stream is not idle while it waits its turn.
			idle.Stop()
			select {
			case c.mapGate <- struct{}{}:
			case <-ctx.Done():
				return since, got, fmt.Errorf("read map stream: %w", ctx.Err())
			}
		}
		next, ok, err := c.readMessage(ctx, br, src, since, h)
		if c.mapGate != nil {
			<-c.mapGate
		}
		got = got || ok
		if err != nil {
			return next, got, err
		}
		since = next
		idle.Reset(c.mapIdle)
	}
}

// readMessage reads, decodes and hands h one message from br, which
// reads src. It returns the version to resume from (0 after a handler
// error), whether a message (keep-alives too) arrived, and why reading
// failed.
func (c *Client) readMessage(ctx context.Context, br *bufio.Reader, src *streamReader, since uint64, h MapHandler) (uint64, bool, error) {
	line, lb, err := readLine(br, src, MaxMapMessage)
	if err != nil {
		return since, false, readErr(ctx, err)
	}
	if len(bytes.TrimSpace(line)) == 0 {
		lb.release()
		return since, false, nil
	}
	// wire.DecodeMapResponse, not json.Unmarshal: the same value, several
	// times faster (a gateway's map can be megabytes of peer records).
	// Nothing it decodes points into line, whose buffer goes back after.
	var m wire.MapResponse
	err = wire.DecodeMapResponse(line, &m)
	lb.release()
	if err != nil {
		return since, false, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	// Peers may follow the line in binary (wire.FeatureBinaryPeers), read
	// once the line is decoded (line may be br's buffer).
	if err := wire.ReadMapBinary(br, &m, MaxMapMessage-len(line)); errors.Is(err, wire.ErrPeerBlock) {
		return since, false, fmt.Errorf("%w: %w", ErrProtocol, err)
	} else if err != nil {
		return since, false, readErr(ctx, err)
	}
	recv := c.now()
	c.skew.observe(m.ServerTime, recv, recv)
	if m.KeepAlive {
		return since, true, nil
	}
	c.skew.localMap(&m, recv)
	if err := h.HandleMap(m); err != nil {
		return 0, true, fmt.Errorf("apply map version %d: %w", m.Version, err)
	}
	return m.Version, true, nil
}

// readErr is why reading the stream failed: a read cancelled while ctx
// is not was cancelled by the idle timer.
func readErr(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) && ctx.Err() == nil {
		err = errIdle
	}
	return fmt.Errorf("read map stream: %w", err)
}

// readLine reads one newline-terminated line of at most limit bytes from
// br, which reads src. A line that fits br's buffer is returned in it
// (lb is nil); a longer one is read on straight from src, in reads of up
// to longLineRead bytes, into a pooled buffer that lb.release gives back
// once the line is decoded. What such a read brings past the line goes
// back to src, before what the stream brings next.
//
// Reason: a node's read buffer is small (a simulated node's is 4 KB, one
// per stream held for as long as it is open), and a gateway's policy
// change is a line of hundreds of kilobytes. Read through br it came in
// pieces of br's size, each a read of the HTTP/2 body that made the
// client send the coordinator a WINDOW_UPDATE (once 4 KB were read), and
// was put together by appending, copied again at each doubling.
func readLine(br *bufio.Reader, src *streamReader, limit int) (line []byte, lb *lineBuf, err error) {
	chunk, err := br.ReadSlice('\n')
	switch {
	case err == nil && len(chunk) > limit:
		return nil, nil, fmt.Errorf("%w: message over %d bytes", ErrProtocol, limit)
	case err == nil:
		return chunk, nil, nil
	case !errors.Is(err, bufio.ErrBufferFull):
		return nil, nil, err
	}
	// br's buffer was full and is now empty (ReadSlice gave all of it):
	// the rest is src's next bytes.
	lb = lineBufs.Get().(*lineBuf)
	buf := append(lb.b[:0], chunk...)
	for len(buf) <= limit {
		if cap(buf)-len(buf) < minLongLineRead {
			buf = slices.Grow(buf, max(len(buf), minLongLineRead))
		}
		room := buf[len(buf):min(cap(buf), len(buf)+longLineRead)]
		n, rerr := src.Read(room)
		if i := bytes.IndexByte(room[:n], '\n'); i >= 0 {
			src.unread(room[i+1 : n])
			buf = buf[:len(buf)+i+1]
			if len(buf) > limit {
				break
			}
			lb.b = buf
			return buf, lb, nil
		}
		buf = buf[:len(buf)+n]
		if rerr != nil {
			lb.b = buf
			lb.release()
			return nil, nil, rerr
		}
	}
	lb.b = buf
	lb.release()
	return nil, nil, fmt.Errorf("%w: message over %d bytes", ErrProtocol, limit)
}

const (
	// longLineRead is the largest read of a long line's rest: what it
	// brings past the line is copied back to the stream's reader.
	longLineRead = 256 << 10
	// minLongLineRead is the least room a long line's read is given.
	minLongLineRead = 16 << 10
	// maxKeptLine is the largest line buffer kept for the next long
	// line.
	maxKeptLine = 4 << 20
)

// lineBuf is a buffer a long line was read into (readLine).
type lineBuf struct{ b []byte }

// lineBufs pools lineBufs between long lines: a stream holds none between
// messages.
var lineBufs = sync.Pool{New: func() any { return new(lineBuf) }}

// release gives the buffer back; the line read into it must no longer be
// used. A nil lb (a line in br's buffer) does nothing.
func (lb *lineBuf) release() {
	if lb == nil {
		return
	}
	if cap(lb.b) > maxKeptLine {
		lb.b = nil
	}
	lb.b = lb.b[:0]
	lineBufs.Put(lb)
}

// streamReader is the map stream's body as its bufio.Reader reads it,
// with the bytes a long line's read took past the line (readLine) put
// back in front.
type streamReader struct {
	r io.Reader
	// pending is read before r; nil when empty, so a stream between
	// messages holds none.
	pending []byte
}

// Read reads pending first, then r.
func (s *streamReader) Read(p []byte) (int, error) {
	if len(s.pending) > 0 {
		n := copy(p, s.pending)
		s.pending = s.pending[n:]
		if len(s.pending) == 0 {
			s.pending = nil
		}
		return n, nil
	}
	return s.r.Read(p)
}

// unread puts a copy of b in front of what Read returns next.
func (s *streamReader) unread(b []byte) {
	if len(b) == 0 {
		return
	}
	s.pending = append(append(make([]byte, 0, len(b)+len(s.pending)), b...), s.pending...)
}
