package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/nodetest"
	"github.com/wardnet/ward/wire"
)

// binaryPolicy: sensors reach the gateways on 8883, cameras on 554, and
// every gateway reaches every camera.
const binaryPolicy = `{"tagOwners": {"tag:gateway": [], "tag:camera": [], "tag:sensor": []},
 "acls": [
  {"action": "accept", "src": ["tag:sensor"], "dst": ["tag:gateway:8883"]},
  {"action": "accept", "src": ["tag:camera"], "dst": ["tag:gateway:554"]},
  {"action": "accept", "src": ["tag:gateway"], "dst": ["tag:camera:80,443"]}]}`

// versionTransport says version v on map requests (0: as the client
// does) and keeps what the map streams sent.
type versionTransport struct {
	v    int
	base http.RoundTripper

	mu  sync.Mutex // guards raw
	raw bytes.Buffer
}

func (tr *versionTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path != wire.PathMap {
		return tr.base.RoundTrip(r)
	}
	if tr.v > 0 {
		r = r.Clone(r.Context())
		q := r.URL.Query()
		q.Set(wire.MapVersionParam, strconv.Itoa(tr.v))
		r.URL.RawQuery = q.Encode()
	}
	resp, err := tr.base.RoundTrip(r)
	if err == nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(resp.Body, writerFunc(tr.write)), resp.Body}
	}
	return resp, err
}

func (tr *versionTransport) write(p []byte) (int, error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.raw.Write(p)
}

func (tr *versionTransport) rawBytes() []byte {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return bytes.Clone(tr.raw.Bytes())
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// peerSet applies map messages as a node does and keeps the peers.
type peerSet struct {
	mu    sync.Mutex // guards peers and msgs
	peers map[wire.NodeID]wire.Node
	msgs  int
}

func (p *peerSet) HandleMap(m wire.MapResponse) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs++
	if m.Full {
		p.peers = map[wire.NodeID]wire.Node{}
		for _, n := range m.Peers {
			p.peers[n.ID] = n
		}
	}
	for _, n := range m.PeersChanged {
		p.peers[n.ID] = n
	}
	for _, id := range m.PeersRemoved {
		delete(p.peers, id)
	}
	return nil
}

func (p *peerSet) SetConnected(bool) {}

// sorted returns the peers by id.
func (p *peerSet) sorted() []wire.Node {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]wire.Node, 0, len(p.peers))
	for _, n := range p.peers {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b wire.Node) int { return int(a.ID - b.ID) })
	return out
}

// TestBinaryPeersMatchJSON: through the real coordinator and the real
// control client, a node of protocol 26 gets its peers as binary blocks
// and one that says 25 as JSON, and both hold the same peers, records and
// grants, after the full map and after joins. (A node of 26 talking to a
// coordinator that sends JSON, as an older one does, is every test of
// node/control against controltest, which never sends binary.)
func TestBinaryPeersMatchJSON(t *testing.T) {
	c := nodetest.StartCoordinator(t, binaryPolicy, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	register := func(name, tag string, tr *versionTransport) *control.Client {
		mk, err := wire.NewMachinePrivate()
		if err != nil {
			t.Fatal(err)
		}
		cfg := control.Config{URL: c.URL(), AllowInsecureHTTP: true, MachineKey: mk}
		if tr != nil {
			cfg.HTTPClient = &http.Client{Transport: tr}
		}
		cl, err := control.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		wk, err := wire.NewWGPrivate()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Register(ctx, wire.RegisterRequest{AuthKey: c.AuthKey(tag), WGKey: wk.Public(), Hostname: name, OS: "linux"}); err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
		return cl
	}
	for i := range 6 {
		register(fmt.Sprintf("sensor-%d", i), "tag:sensor", nil)
		register(fmt.Sprintf("camera-%d", i), "tag:camera", nil)
	}
	newTr := &versionTransport{base: &http.Transport{}}
	oldTr := &versionTransport{v: int(wire.FeatureBinaryPeers) - 1, base: &http.Transport{}}
	gwNew, gwOld := register("gateway-new", "tag:gateway", newTr), register("gateway-old", "tag:gateway", oldTr)
	var newPeers, oldPeers peerSet
	go gwNew.FollowMap(ctx, 0, &newPeers)
	go gwOld.FollowMap(ctx, 0, &oldPeers)

	same := func(want int) {
		t.Helper()
		var a, b []wire.Node
		waitFor(t, fmt.Sprintf("both gateways hold the same %d peers", want), func() bool {
			a, b = newPeers.sorted(), oldPeers.sorted()
			if len(a) != want || len(b) != want {
				return false
			}
			for i := range a {
				if a[i].KeyExpiry.Sub(b[i].KeyExpiry).Abs() > 2*time.Second {
					return false
				}
				a[i].KeyExpiry, b[i].KeyExpiry = time.Time{}, time.Time{}
			}
			return reflect.DeepEqual(a, b)
		})
		for _, n := range a {
			if n.Grants == nil || n.FQDN == "" || !n.IPv4.IsValid() {
				t.Fatalf("peer without grants, name or address: %+v", n)
			}
		}
	}
	same(12)
	// Joins reach both as deltas.
	for i := range 3 {
		register(fmt.Sprintf("camera-late-%d", i), "tag:camera", nil)
	}
	same(15)

	raw := newTr.rawBytes()
	if !bytes.Contains(raw, []byte(`"peers_bin":`)) || !bytes.Contains(raw, []byte(`"peers_changed_bin":`)) ||
		bytes.Contains(raw, []byte(`"peers":[`)) || bytes.Contains(raw, []byte(`"peers_changed":[`)) {
		t.Errorf("a node of protocol %d got its peers as JSON: %.300q", wire.ProtocolVersion, raw)
	}
	raw = oldTr.rawBytes()
	if bytes.Contains(raw, []byte(`_bin"`)) || !bytes.Contains(raw, []byte(`"peers":[`)) || !bytes.Contains(raw, []byte(`"peers_changed":[`)) {
		t.Errorf("a node of protocol %d got binary peers: %.300q", oldTr.v, raw)
	}
}
