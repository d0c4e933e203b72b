package coordinator

import (
	"crypto/rand"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/sso"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/devidp"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/internal/pgtest"
	"github.com/wardnet/ward/wire"
)

// startReplicas starts n coordinators on one fresh PostgreSQL database,
// each with its own data directory (and bootstrap API key), sharing the
// refresh-token and audit keys; tweak, when set, changes each one's
// configuration.
func startReplicas(t *testing.T, n int, policy string, tweak ...func(*Config)) []*testCoord {
	t.Helper()
	url := pgtest.NewDB(t)
	keys := t.TempDir() // the shared keys, made by the first
	keyFile, auditKey := filepath.Join(keys, TokenKeyFile), filepath.Join(keys, AuditKeyFile)
	cs := make([]*testCoord, n)
	for i := range cs {
		cs[i] = startCoordWith(t, policy, func(c *Config) {
			c.DB, c.TokenKeyFile, c.AuditKeyFile = url, keyFile, auditKey
			for _, tw := range tweak {
				tw(c)
			}
		})
		cs[i].apiKey = cs[0].apiKey // only the first start makes a bootstrap key
	}
	return cs
}

// TestConcurrentSingleUseKeyAcrossReplicas: machines race to register with
// one single-use key, half through each of two coordinators on one
// PostgreSQL; exactly one node registers, and both coordinators list it.
func TestConcurrentSingleUseKeyAcrossReplicas(t *testing.T) {
	cs := startReplicas(t, 2, testPolicy)
	key := cs[0].authKey([]string{"tag:camera"}, false, "")
	ms := make([]*machine, 10)
	for i := range ms {
		ms[i] = newMachine(t)
		cs[i%2].session(ms[i])
	}
	var wg sync.WaitGroup
	codes := make([]int, len(ms))
	for i, m := range ms {
		wg.Go(func() { codes[i], _ = cs[i%2].register(m, key, "race") })
	}
	wg.Wait()
	ok := 0
	for _, code := range codes {
		if code == 200 {
			ok++
		}
	}
	for i, c := range cs {
		var nodes []wire.AdminNode
		c.admin("GET", wire.PathAdminNodes, nil, &nodes)
		if ok != 1 || len(nodes) != 1 {
			t.Fatalf("replica %d: %d registrations succeeded and %d nodes exist; want exactly 1 (codes %v)", i, ok, len(nodes), codes)
		}
	}
}

// TestReplicasShareChanges: what one coordinator commits reaches the map
// streams another serves (LISTEN/NOTIFY): a node joining, a policy
// change, a node's removal.
func TestReplicasShareChanges(t *testing.T) {
	cs := startReplicas(t, 2, testPolicy)
	a, b := cs[0], cs[1]
	opMap := operatorOn(t, b)

	cam := newMachine(t)
	if code, _ := a.register(cam, a.authKey([]string{"tag:camera"}, false, ""), "cam1"); code != 200 {
		t.Fatalf("register cam1 on a: %d", code)
	}
	waitMap(t, opMap, "the camera joining on the other replica", func(m wire.MapResponse) bool {
		return slicesHasName(append(m.Peers, m.PeersChanged...), "cam1")
	})

	camMap := a.openMap(cam, 0)
	camMap.next()
	policy := strings.Replace(testPolicy, `"tag:camera:22"`, `"tag:camera:80"`, 1)
	if code := b.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: policy, ParentID: -1}, nil); code != 200 {
		t.Fatalf("set policy on b: %d", code)
	}
	waitMap(t, camMap, "the policy change made on the other replica", func(m wire.MapResponse) bool {
		return m.FilterChanged && len(m.Filter) == 1 && m.Filter[0].Dst[0].Ports[0].First == 80
	})

	if code := a.admin("DELETE", wire.PathAdminNodes+"/cam1", nil, nil); code != 204 {
		t.Fatalf("remove cam1 on a: %d", code)
	}
	waitMap(t, opMap, "the camera's removal on the other replica", func(m wire.MapResponse) bool {
		return len(m.PeersRemoved) == 1
	})
}

// operatorOn registers operator op1 on c and opens its map stream, whose
// first map (no peers) it reads.
func operatorOn(t *testing.T, c *testCoord) *mapStream {
	t.Helper()
	op := newMachine(t)
	if code, _ := c.register(op, c.authKey([]string{"tag:operator"}, false, ""), "op1"); code != 200 {
		t.Fatalf("register op1: %d", code)
	}
	s := c.openMap(op, 0)
	if full := s.next(); len(full.Peers) != 0 {
		t.Fatalf("operator's first map has peers: %+v", full.Peers)
	}
	return s
}

// waitMap reads s until a message satisfies ok, failing after a generous
// deadline.
func waitMap(t *testing.T, s *mapStream, what string, ok func(wire.MapResponse) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if ok(s.next()) {
			return
		}
	}
	t.Fatalf("no map message with %s within 20s", what)
}

// slicesHasName reports whether nodes holds one named name.
func slicesHasName(nodes []wire.Node, name string) bool {
	for _, n := range nodes {
		if n.Name == name {
			return true
		}
	}
	return false
}

// TestAdminSessionKnownToEveryReplica: an admin who logged in to the UI on
// one coordinator is logged in on another on the same PostgreSQL (the
// session lives in the database), and a session one coordinator ends (its
// person disabled, then enabled again) is ended on the other too.
func TestAdminSessionKnownToEveryReplica(t *testing.T) {
	url := pgtest.NewDB(t)
	keyFile := filepath.Join(t.TempDir(), TokenKeyFile)
	onDB := func(c *Config) { c.DB, c.TokenKeyFile = url, keyFile }
	a := startCoordListening(t, onDB)
	b := startCoordListening(t, onDB)
	browser, p := a.uiLogin(carol)
	if p.Status != http.StatusOK || p.URL.Path != "/ui/devices" {
		t.Fatalf("ui login on a ended on %s: %d", p.URL, p.Status)
	}
	// The jar sends 127.0.0.1's cookies to every port: b gets a's cookie.
	for _, path := range []string{"/ui/devices", wire.PathAdminNodes} {
		if resp := b.uiGet(browser, path); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s on the other replica with the session: %d %s", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// Disabled and enabled again on a: the session a ended is gone on b too.
	var u wire.AdminUser
	for _, op := range []string{"disable", "enable"} {
		if code := a.admin("POST", wire.PathAdminUsers+"/carol@example.com/"+op, nil, &u); code != http.StatusOK {
			t.Fatalf("%s carol on a: %d", op, code)
		}
	}
	if resp := b.uiGet(browser, "/ui/devices"); !refused(resp) {
		t.Errorf("GET /ui/devices on b with the session a ended: %d, want refused", resp.StatusCode)
	}
}

// TestMissedNotificationConvergesWithinPoll: a write committed on one
// replica whose notification is lost (the store's fault injection: its
// writes log their changes without NOTIFY, as a lost or never sent one)
// still reaches a map stream on the other replica, by the change log's
// poll, within store.ChangePoll (waited for with a generous deadline).
func TestMissedNotificationConvergesWithinPoll(t *testing.T) {
	cs := startReplicas(t, 2, testPolicy)
	a, b := cs[0], cs[1]
	opMap := operatorOn(t, b)
	key := a.authKey([]string{"tag:camera"}, false, "")
	a.srv.st.(interface{ MuteChanges(bool) }).MuteChanges(true)
	cam := newMachine(t)
	if code, _ := a.register(cam, key, "cam1"); code != 200 {
		t.Fatalf("register cam1 on a: %d", code)
	}
	start := time.Now()
	waitMap(t, opMap, "the camera joining on the other replica, unannounced", func(m wire.MapResponse) bool {
		return slicesHasName(append(m.Peers, m.PeersChanged...), "cam1")
	})
	t.Logf("the unannounced join reached the other replica's stream in %v (poll %v)", time.Since(start).Round(time.Millisecond), store.ChangePoll)
}

// lbTransport plays a load balancer without sticky sessions for a
// browser: requests to front go to callback when their path is the admin
// UI's OIDC callback, to rest otherwise.
type lbTransport struct{ front, callback, rest string }

func (l lbTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != l.front {
		return http.DefaultTransport.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	r2.URL.Host = l.rest
	if r.URL.Path == PathUICallback {
		r2.URL.Host = l.callback
	}
	return http.DefaultTransport.RoundTrip(r2)
}

// TestBrowserLoginFinishesOnAnotherReplica: an admin's UI login that
// began on one coordinator comes back from the IdP to another (both
// behind one URL, no sticky sessions) and finishes there: the login
// cookie is sealed under a key the coordinators of a database share.
func TestBrowserLoginFinishesOnAnotherReplica(t *testing.T) {
	db := pgtest.NewDB(t)
	keyFile := filepath.Join(t.TempDir(), TokenKeyFile)
	ln, err := net.Listen("tcp", "127.0.0.1:0") // the front's address, never served
	if err != nil {
		t.Fatal(err)
	}
	front := ln.Addr().String()
	ln.Close()
	secret := rand.Text()
	idp := devidptest.Start(t, devidp.Config{Clients: []devidp.Client{{ID: "ward", Secret: secret,
		RedirectURIs: []string{"http://" + front + wire.PathOIDCCallback, "http://" + front + PathUICallback}}}})
	onDB := func(c *Config) {
		c.DB, c.TokenKeyFile = db, keyFile
		c.OIDC = &sso.Config{Issuer: idp.Issuer(), ClientID: "ward", ClientSecret: sso.Secret(secret),
			RedirectURL: "http://" + front + wire.PathOIDCCallback}
		c.AdminRoles = map[string]admin.Role{admin.MemberIdP + "admins": admin.RoleOwner}
	}
	a := startCoordWith(t, testPolicy, onDB)
	b := startCoordWith(t, testPolicy, onDB)
	browser := devidptest.NewBrowser()
	browser.Client.Transport = lbTransport{front: front, callback: b.http.Listener.Addr().String(), rest: a.http.Listener.Addr().String()}
	p, err := browser.Login(t.Context(), "http://"+front+"/ui/login", carol)
	if err != nil {
		t.Fatalf("ui login begun on a, finished on b: %v", err)
	}
	if p.Status != http.StatusOK || p.URL.Path != "/ui/devices" {
		t.Fatalf("ui login begun on a, finished on b, ended on %s: %d", p.URL, p.Status)
	}
}
