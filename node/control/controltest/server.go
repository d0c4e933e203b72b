// Package controltest is a minimal in-memory coordinator for tests of the
// node side of the control protocol. It checks machine-key signatures and
// bearer tokens like the real one, and plays a scripted map stream.
package controltest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// Server is a fake coordinator. Create it with New; the test closes it.
type Server struct {
	*httptest.Server
	// AuthKey is the pre-auth key Register accepts.
	AuthKey string
	// KeepAlive is the keep-alive interval of map streams.
	KeepAlive time.Duration
	// SwitchDelay is how far in the future RotateResponse.SwitchAt lies.
	SwitchDelay time.Duration
	// OldReports makes the server refuse a report with ExposedPorts (400),
	// like a coordinator built before that field; set before use.
	OldReports bool
	// OldClock makes the server answer like a coordinator of protocol
	// version 1: no ServerTime anywhere, and rotations as absolute times
	// only; set before use.
	OldClock bool
	// Version is the protocol version the server speaks (0:
	// wire.ProtocolVersion): its session answers say it, and it refuses a
	// report carrying Paths when older than wire.FeaturePathReports
	// (400, like an older coordinator's unknown field); set before use.
	Version int
	// BinaryPeers makes the server send a map message's peers as binary
	// blocks after its line to a node whose map request says
	// wire.FeatureBinaryPeers or later, as the coordinator does; without
	// it the server writes JSON, as an older coordinator does. BadBinary
	// pads each block with a byte its line counts, which a node must
	// refuse. Set before use.
	BinaryPeers, BadBinary bool

	// mux serves the API; useTLS tells how Restart serves it again.
	mux    *http.ServeMux
	useTLS bool

	// mu guards the following.
	mu sync.Mutex
	// challenges maps a challenge (as a string) to its machine key.
	challenges map[string]wire.MachinePublic
	// tokens maps a session token to its machine key.
	tokens map[string]wire.MachinePublic
	// nodes are the registered machines.
	nodes map[wire.MachinePublic]wire.Node
	// log is the map stream script: every stream replays the messages
	// newer than its since, then follows new ones.
	log []wire.MapResponse
	// changed is closed and replaced when log grows or streams must drop.
	changed chan struct{}
	// epoch counts DropStreams calls; a stream ends when it changes.
	epoch int
	// sinces records the since parameter of every map request, idles its
	// idle parameter (wire.MapIdleParam).
	sinces []uint64
	idles  []string
	// beatParams records the beat parameter of every map request
	// (wire.MapBeatParam), beats how many beats (wire.PathBeat) came.
	beatParams []string
	beats      int
	// reports and rotations record what nodes sent (refused rotations
	// included).
	reports   []wire.Report
	rotations []wire.RotateRequest
	// failMap makes the next map requests fail with 503 while > 0, with
	// a Retry-After header of mapRetryAfter when not empty.
	failMap       int
	mapRetryAfter string
	// mapAt records when each map request arrived.
	mapAt []time.Time
	// refuse is the answer to rotations while its status is not 0.
	refuse refusal
	// refuseReports is the answer to reports while its status is not 0.
	refuseReports refusal
	// reportTimes holds when each report request came, refused or not.
	reportTimes []time.Time
	// pathsRefused counts reports refused for carrying Paths (Version).
	pathsRefused int
}

// refusal is an error answer: a status, a message and a Retry-After
// header value (empty: none).
type refusal struct {
	status     int
	msg        string
	retryAfter string
}

// New starts a fake coordinator over plain HTTP on 127.0.0.1.
func New(tb testing.TB) *Server { return start(tb, false) }

// NewTLS starts a fake coordinator over HTTPS on 127.0.0.1; its
// certificate is Server.Certificate().
func NewTLS(tb testing.TB) *Server { return start(tb, true) }

func start(tb testing.TB, useTLS bool) *Server {
	s := &Server{
		AuthKey:     "tskey-test",
		KeepAlive:   50 * time.Millisecond,
		SwitchDelay: 200 * time.Millisecond,
		challenges:  map[string]wire.MachinePublic{},
		tokens:      map[string]wire.MachinePublic{},
		nodes:       map[wire.MachinePublic]wire.Node{},
		changed:     make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+wire.PathChallenge, s.challenge)
	mux.HandleFunc("POST "+wire.PathSession, s.session)
	mux.HandleFunc("POST "+wire.PathRegister, s.authed(s.register))
	mux.HandleFunc("GET "+wire.PathMap, s.authed(s.streamMap))
	mux.HandleFunc("POST "+wire.PathRotate, s.authed(s.rotate))
	mux.HandleFunc("POST "+wire.PathReport, s.authed(s.report))
	mux.HandleFunc("POST "+wire.PathBeat, s.authed(s.beat))
	s.mux, s.useTLS = mux, useTLS
	s.Server = httptest.NewUnstartedServer(mux)
	if useTLS {
		s.Server.StartTLS()
	} else {
		s.Server.Start()
	}
	tb.Cleanup(func() {
		s.DropStreams()
		s.Server.Close()
	})
	return s
}

// Stop makes the coordinator unreachable: it ends the map streams and
// closes the listener and every connection. What it knows is kept for
// Restart. It is not safe to call concurrently with Restart or URL reads.
func (s *Server) Stop() {
	s.DropStreams()
	s.Server.Close()
}

// Restart serves again on the address of the stopped server, with what it
// knew (nodes, map script); session tokens stay valid.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	addr := s.Listener.Addr().String()
	srv := httptest.NewUnstartedServer(s.mux)
	srv.Listener.Close()
	var err error
	for range 50 { // the port may linger briefly
		if srv.Listener, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		tb.Fatalf("restart fake coordinator on %s: %v", addr, err)
	}
	if s.useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	s.Server = srv
}

// Publish appends m to the map script and wakes the streams.
func (s *Server) Publish(m wire.MapResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, m)
	s.wakeLocked()
}

// DropStreams ends every open map stream.
func (s *Server) DropStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
	s.wakeLocked()
}

// FailMaps makes the next n map requests fail with 503.
func (s *Server) FailMaps(n int) {
	s.RefuseMaps(n, "")
}

// RefuseMaps makes the next n map requests fail with 503 and, when
// retryAfter is not empty, a Retry-After header (seconds).
func (s *Server) RefuseMaps(n int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failMap, s.mapRetryAfter = n, retryAfter
}

// MapTimes returns when each map request arrived.
func (s *Server) MapTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.mapAt...)
}

// RefuseRotations makes rotate requests fail with status (0: accept them
// again) and a wire.Error with msg, and a Retry-After header when
// retryAfter is not empty. Refused requests are recorded too.
func (s *Server) RefuseRotations(status int, msg, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = refusal{status: status, msg: msg, retryAfter: retryAfter}
}

// RefuseReports makes report requests fail with status (0: accept them
// again) and a wire.Error with msg, and a Retry-After header when
// retryAfter is not empty. Refused reports are not in Reports, but their
// times are in ReportTimes.
func (s *Server) RefuseReports(status int, msg, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseReports = refusal{status: status, msg: msg, retryAfter: retryAfter}
}

// ReportTimes returns when each report request so far came, refused or
// not.
func (s *Server) ReportTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.reportTimes...)
}

// RevokeTokens forgets every session token, so the next call gets a 401.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

func (s *Server) wakeLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Sinces returns the since parameter of every map request so far.
func (s *Server) Sinces() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.sinces...)
}

// BeatParams returns the beat parameter of every map request
// (wire.MapBeatParam), in order.
func (s *Server) BeatParams() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.beatParams...)
}

// Beats returns how many beats (wire.PathBeat) came.
func (s *Server) Beats() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.beats
}

// beat counts a beat (wire.PathBeat).
func (s *Server) beat(w http.ResponseWriter, _ *http.Request, _ wire.MachinePublic) {
	s.mu.Lock()
	s.beats++
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Idles returns the idle parameter (wire.MapIdleParam) of every map
// request so far, "" where absent.
func (s *Server) Idles() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.idles...)
}

// Reports returns the reports received so far.
func (s *Server) Reports() []wire.Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.Report(nil), s.reports...)
}

// Rotations returns the rotate requests received so far.
func (s *Server) Rotations() []wire.RotateRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.RotateRequest(nil), s.rotations...)
}

// Node returns the node registered for machine key mk.
func (s *Server) Node(mk wire.MachinePublic) (wire.Node, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.nodes[mk]
	return n, ok
}

// NodeCount returns how many machines registered.
func (s *Server) NodeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.nodes)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, wire.Error{Error: msg})
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, wire.MaxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeErr(w, http.StatusBadRequest, "bad request: "+err.Error())
		return false
	}
	return true
}

func (s *Server) challenge(w http.ResponseWriter, r *http.Request) {
	var req wire.ChallengeRequest
	if !decode(w, r, &req) {
		return
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	s.mu.Lock()
	s.challenges[string(b)] = req.MachineKey
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, wire.ChallengeResponse{Challenge: b, Expires: time.Now().Add(time.Minute)})
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	var req wire.SessionRequest
	if !decode(w, r, &req) {
		return
	}
	s.mu.Lock()
	mk, ok := s.challenges[string(req.Challenge)]
	delete(s.challenges, string(req.Challenge))
	s.mu.Unlock()
	if !ok || mk != req.MachineKey || !mk.Verify(wire.SessionMessage(req.Challenge, mk), req.Signature) {
		writeErr(w, http.StatusUnauthorized, "bad challenge signature")
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := "wst_" + hex.EncodeToString(b)
	s.mu.Lock()
	s.tokens[tok] = mk
	_, registered := s.nodes[mk]
	s.mu.Unlock()
	now := time.Now()
	resp := wire.SessionResponse{Token: tok, Expires: now.Add(time.Hour), Registered: registered,
		ServerTime: s.serverTime(now)}
	if wire.Supports(req.ProtocolVersion, wire.FeatureCoordinatorVersion) {
		resp.ProtocolVersion = s.version()
	}
	writeJSON(w, http.StatusOK, resp)
}

// version is the protocol version the server speaks.
func (s *Server) version() int {
	if s.Version != 0 {
		return s.Version
	}
	return wire.ProtocolVersion
}

// PathsRefused counts the reports refused for carrying Paths to a server
// whose Version is older than wire.FeaturePathReports.
func (s *Server) PathsRefused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pathsRefused
}

// authed checks the bearer token and passes the machine key on.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, wire.MachinePublic)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		s.mu.Lock()
		mk, known := s.tokens[tok]
		s.mu.Unlock()
		if !ok || !known {
			writeErr(w, http.StatusUnauthorized, "invalid or expired token")
			return
		}
		h(w, r, mk)
	}
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || h[:len(p)] != p {
		return "", false
	}
	return h[len(p):], true
}

func (s *Server) register(w http.ResponseWriter, r *http.Request, mk wire.MachinePublic) {
	var req wire.RegisterRequest
	if !decode(w, r, &req) {
		return
	}
	if req.AuthKey != s.AuthKey {
		writeErr(w, http.StatusForbidden, "invalid auth key")
		return
	}
	s.mu.Lock()
	n := wire.Node{ID: wire.NodeID(len(s.nodes) + 1), Name: req.Hostname, WGKey: req.WGKey, ExposedPorts: req.ExposedPorts}
	s.nodes[mk] = n
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, wire.RegisterResponse{Node: n})
}

func (s *Server) rotate(w http.ResponseWriter, r *http.Request, mk wire.MachinePublic) {
	var req wire.RotateRequest
	if !decode(w, r, &req) {
		return
	}
	s.mu.Lock()
	s.rotations = append(s.rotations, req)
	ref := s.refuse
	s.mu.Unlock()
	if ref.status != 0 {
		if ref.retryAfter != "" {
			w.Header().Set("Retry-After", ref.retryAfter)
		}
		writeErr(w, ref.status, ref.msg)
		return
	}
	now := time.Now()
	resp := wire.NewRotateResponse(now, s.SwitchDelay, now.Add(time.Hour))
	if s.OldClock {
		resp = wire.RotateResponse{SwitchAt: resp.SwitchAt, KeyExpiry: resp.KeyExpiry}
	}
	writeJSON(w, http.StatusOK, resp)
}

// serverTime is now, or zero when the server plays an old coordinator.
func (s *Server) serverTime(now time.Time) time.Time {
	if s.OldClock {
		return time.Time{}
	}
	return now
}

func (s *Server) report(w http.ResponseWriter, r *http.Request, mk wire.MachinePublic) {
	var req wire.Report
	if !decode(w, r, &req) {
		return
	}
	if s.OldReports && len(req.ExposedPorts) > 0 {
		writeErr(w, http.StatusBadRequest, `bad request: json: unknown field "exposed_ports"`)
		return
	}
	if req.Paths != nil && !wire.Supports(s.version(), wire.FeaturePathReports) {
		s.mu.Lock()
		s.pathsRefused++
		s.mu.Unlock()
		writeErr(w, http.StatusBadRequest, `bad request: json: unknown field "paths"`)
		return
	}
	s.mu.Lock()
	s.reportTimes = append(s.reportTimes, time.Now())
	ref := s.refuseReports
	if ref.status == 0 {
		s.reports = append(s.reports, req)
	}
	s.mu.Unlock()
	if ref.status != 0 {
		if ref.retryAfter != "" {
			w.Header().Set("Retry-After", ref.retryAfter)
		}
		writeErr(w, ref.status, ref.msg)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// streamMap replays the script after since, then follows it, with
// keep-alives, until the client leaves or DropStreams is called.
func (s *Server) streamMap(w http.ResponseWriter, r *http.Request, mk wire.MachinePublic) {
	since, _ := strconv.ParseUint(r.URL.Query().Get(wire.MapSinceParam), 10, 64)
	s.mu.Lock()
	s.sinces = append(s.sinces, since)
	s.idles = append(s.idles, r.URL.Query().Get(wire.MapIdleParam))
	s.beatParams = append(s.beatParams, r.URL.Query().Get(wire.MapBeatParam))
	s.mapAt = append(s.mapAt, time.Now())
	if s.failMap > 0 {
		s.failMap--
		if s.mapRetryAfter != "" {
			w.Header().Set("Retry-After", s.mapRetryAfter)
		}
		s.mu.Unlock()
		writeErr(w, http.StatusServiceUnavailable, "try later")
		return
	}
	epoch := s.epoch
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flush(w)
	enc := json.NewEncoder(w)
	v, _ := strconv.Atoi(r.URL.Query().Get(wire.MapVersionParam))
	binary := s.BinaryPeers && wire.Supports(v, wire.FeatureBinaryPeers)
	sent := since
	tick := time.NewTicker(s.KeepAlive)
	defer tick.Stop()
	for {
		msgs, changed, ep := s.after(sent)
		if ep != epoch {
			return
		}
		for _, m := range msgs {
			m.ServerTime = s.serverTime(time.Now())
			var bin []byte
			if binary {
				m, bin = s.binaryPeers(m)
			}
			if enc.Encode(m) != nil {
				return
			}
			if _, err := w.Write(bin); err != nil {
				return
			}
			sent = m.Version
		}
		flush(w)
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-tick.C:
			if enc.Encode(wire.MapResponse{KeepAlive: true, ServerTime: s.serverTime(time.Now())}) != nil {
				return
			}
			flush(w)
		}
	}
}

// after returns the script messages newer than v. A stream starting from
// a version older than the script's first message gets the whole script.
func (s *Server) after(v uint64) ([]wire.MapResponse, <-chan struct{}, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []wire.MapResponse
	for _, m := range s.log {
		if m.Version > v {
			out = append(out, m)
		}
	}
	return out, s.changed, s.epoch
}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// binaryPeers moves m's peers into binary blocks (wire.FeatureBinaryPeers).
func (s *Server) binaryPeers(m wire.MapResponse) (wire.MapResponse, []byte) {
	block := func(nodes []wire.Node) []byte {
		if len(nodes) == 0 {
			return nil
		}
		b := wire.AppendPeerBlockHead(nil, len(nodes))
		for i := range nodes {
			var err error
			if b, err = wire.AppendPeerRecord(b, &nodes[i]); err != nil {
				panic(err)
			}
		}
		if s.BadBinary {
			b = append(b, 0)
		}
		return b
	}
	p, c := block(m.Peers), block(m.PeersChanged)
	m.Peers, m.PeersChanged, m.PeersBin, m.PeersChangedBin = nil, nil, len(p), len(c)
	return m, append(p, c...)
}
