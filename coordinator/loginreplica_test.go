package coordinator

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/wire"
)

// stepBalancer plays a load balancer without sticky sessions for a
// browser: requests to front go to the replica route picks by path.
type stepBalancer struct {
	front string
	route func(path string) string
}

func (l stepBalancer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != l.front {
		return http.DefaultTransport.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	r2.URL.Host = l.route(r.URL.Path)
	return http.DefaultTransport.RoundTrip(r2)
}

// TestDeviceLoginStepsOnDifferentReplicas: a person's device login whose
// every step reaches another coordinator than the step before (two on one
// PostgreSQL, behind a balancer without sticky sessions) finishes: the
// node asks on a, the browser opens the link on b, the IdP's callback
// comes back to a, the person confirms on b, and the node, waiting on a
// all along, hears at once (the change log wakes it). Each step stays
// single-use across the replicas: the link opened on b does not open
// again on a, nor does the confirmation go through twice.
func TestDeviceLoginStepsOnDifferentReplicas(t *testing.T) {
	cs := startReplicas(t, 2, userPolicy, func(c *Config) { c.Auth = fakeAuth{} })
	a, b := cs[0], cs[1]
	aHost, bHost := a.http.Listener.Addr().String(), b.http.Listener.Addr().String()
	ln, err := net.Listen("tcp", "127.0.0.1:0") // the front's address, never served
	if err != nil {
		t.Fatal(err)
	}
	front := ln.Addr().String()
	ln.Close()

	m := newMachine(t)
	lr := a.startLogin(m, "alice-laptop", "linux")
	id := lr.ID
	waiting := a.waitLogin(m, id)

	br := devidptest.NewBrowser()
	br.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse } // the fake IdP is not served
	br.Client.Transport = stepBalancer{front: front, route: func(path string) string {
		switch {
		case strings.HasPrefix(path, wire.PathLoginBrowser), path == wire.PathLoginConfirm:
			return bHost
		default:
			return aHost
		}
	}}
	ctx := context.Background()
	p, err := br.Open(ctx, "http://"+front+wire.PathLoginBrowser+id)
	if err != nil || p.Status != http.StatusFound {
		t.Fatalf("link opened on b: %v %+v", err, p)
	}
	// The link is used: a second browser opening it on a is refused.
	if p2, err := devidptest.NewBrowser().Open(ctx, a.http.URL+wire.PathLoginBrowser+id); err != nil || p2.Status != http.StatusConflict {
		t.Fatalf("the link opened again on the other replica: %v %+v, want 409", err, p2)
	}
	p, err = br.Open(ctx, "http://"+front+wire.PathOIDCCallback+"?"+url.Values{"state": {id}, "sub": {"alice"}, "groups": {"ops"}}.Encode())
	if err != nil || p.Status != http.StatusOK {
		t.Fatalf("callback on a: %v %+v", err, p)
	}
	confirm, err := br.SubmitForm(ctx, p, wire.PathLoginConfirm, url.Values{"decision": {"connect"}})
	if err != nil || confirm.Status != http.StatusOK {
		t.Fatalf("confirmation on b: %v %+v", err, confirm)
	}
	again, err := br.SubmitForm(ctx, p, wire.PathLoginConfirm, url.Values{"decision": {"connect"}})
	if err != nil || again.Status == http.StatusOK {
		t.Fatalf("the confirmation again: %v %+v, want refused", err, again)
	}
	select {
	case res := <-waiting:
		if !res.Done || res.Node == nil || res.Node.User != "alice@example.com" {
			t.Fatalf("the node waiting on a was told %+v", res)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the node waiting on a heard nothing within 30 s")
	}
	if !a.registered(m) || !b.registered(m) {
		t.Fatal("the machine is not registered")
	}
}
