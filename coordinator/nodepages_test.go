package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/wire"
)

// TestAdminNodePages walks GET nodes page by page while nodes leave and
// join between pages: every node present throughout comes exactly once,
// in id order, with Total the fleet's size and without peers (the answer
// for one node keeps them); a filter pages too, and a page the scan bound
// cut short still leads on to every match. Bad paging parameters are 400,
// change nothing, and a read-only key pages as it listed before.
func TestAdminNodePages(t *testing.T) {
	c := startCoord(t, nodeListPolicy)
	gw, sensor := c.authKey([]string{"tag:gateway"}, true, ""), c.authKey([]string{"tag:sensor"}, true, "")
	var names []string
	for i := range 7 {
		key, name := sensor, fmt.Sprintf("sensor%d", i)
		if i%3 == 0 {
			key, name = gw, fmt.Sprintf("gateway%d", i)
		}
		if code, _ := c.register(newMachine(t), key, name); code != 200 {
			t.Fatalf("register %s: %d", name, code)
		}
		names = append(names, name)
	}
	page := func(token, query string) (int, wire.AdminNodePage, string) {
		t.Helper()
		code, body := c.call("GET", wire.PathAdminNodes+"?"+query, token, nil)
		var p wire.AdminNodePage
		if code == 200 {
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("GET ?%s: %v: %s", query, err, body)
			}
		}
		return code, p, string(body)
	}
	short := 0 // pages with fewer nodes than asked and a next
	walk := func(query string, between func(n int)) (got []string) {
		t.Helper()
		after := ""
		for n := 0; n < 20; n++ {
			q := query
			if after != "" {
				q += "&after=" + after
			}
			code, p, body := page(c.apiKey, q)
			if code != 200 {
				t.Fatalf("GET ?%s: %d %s", q, code, body)
			}
			for _, an := range p.Nodes {
				if len(an.Peers) > 0 {
					t.Errorf("%s in a page has peers %v; only the answer for one node has them", an.Name, an.Peers)
				}
				got = append(got, an.Name)
			}
			if p.Next == "" {
				return got
			}
			if limit, _ := url.ParseQuery(q); fmt.Sprint(len(p.Nodes)) != limit.Get("limit") {
				short++
			}
			after = p.Next
			if between != nil {
				between(n)
			}
		}
		t.Fatal("no end after 20 pages")
		return nil
	}

	if got := walk("limit=3", nil); !slices.Equal(got, names) {
		t.Errorf("pages of 3: %v, want %v", got, names)
	}
	code, p, _ := page(c.apiKey, "limit=3")
	if code != 200 || len(p.Nodes) != 3 || p.Total != 7 || p.Next != fmt.Sprint(p.Nodes[2].ID) {
		t.Errorf("first page of 3: %d, %d nodes, total %d, next %q", code, len(p.Nodes), p.Total, p.Next)
	}
	var one wire.AdminNode
	if code := c.admin("GET", wire.PathAdminNodes+"/gateway0", nil, &one); code != 200 || len(one.Peers) == 0 {
		t.Errorf("GET gateway0: %d, peers %v; want its sensors", code, one.Peers)
	}

	// Filters page: gateways only, one at a time; then a scan bound of 2
	// nodes per call, so that pages come back short but lead on.
	if got := walk("tag=tag:gateway&limit=1", nil); !slices.Equal(got, []string{"gateway0", "gateway3", "gateway6"}) {
		t.Errorf("gateways in pages of 1: %v", got)
	}
	defer func(n int) { nodePageScan = n }(nodePageScan)
	nodePageScan = 2
	if got := walk("q=gateway&limit=1", nil); !slices.Equal(got, []string{"gateway0", "gateway3", "gateway6"}) || short == 0 {
		t.Errorf("gateways with a scan bound of 2: %v, %d short pages; want every gateway, past short pages", got, short)
	}
	nodePageScan = 5000

	// Bad input: 400 with the reason, nothing changed.
	for _, q := range []string{"limit=0", "limit=5001", "limit=-1", "limit=ten", "limit=1&limit=2", "after=-1", "after=gateway0", "after=", "limit=2&status=asleep"} {
		code, _, body := page(c.apiKey, q)
		if code != http.StatusBadRequest || !strings.Contains(body, "must be") {
			t.Errorf("GET ?%s: %d %s, want 400 saying what it must be", q, code, body)
		}
	}
	if code, p, _ := page(c.apiKey, "limit=5000"); code != 200 || p.Total != 7 || len(p.Nodes) != 7 {
		t.Errorf("after bad calls: %d, total %d, %d nodes; want 7", code, p.Total, len(p.Nodes))
	}

	// The bare array of every node, as before protocol 25.
	var all []wire.AdminNode
	if code := c.admin("GET", wire.PathAdminNodes+"?risk=", nil, &all); code != 200 || len(all) != 7 {
		t.Errorf("GET without paging: %d, %d nodes", code, len(all))
	}

	// A read-only key pages; no key is refused.
	roSecret, _, err := c.srv.fleet.createAPIKey(context.Background(), "ro2", "test", 0, time.Time{}, []string{admin.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	if code, p, body := page(roSecret, "limit=2"); code != 200 || len(p.Nodes) != 2 {
		t.Errorf("read-only key: %d %s", code, body)
	}
	if code, _, _ := page("", "limit=2"); code != http.StatusUnauthorized {
		t.Errorf("no key: %d, want 401", code)
	}

	// Nodes leave and join between pages: sensor1 (on the next page) and
	// gateway0 (on the page read) leave, a new sensor joins.
	got := walk("limit=2", func(n int) {
		if n != 0 {
			return
		}
		for _, name := range []string{"gateway0", "sensor2"} {
			if code := c.admin("DELETE", wire.PathAdminNodes+"/"+url.PathEscape(name), nil, nil); code != 204 {
				t.Fatalf("remove %s: %d", name, code)
			}
		}
		if code, _ := c.register(newMachine(t), sensor, "sensor-late"); code != 200 {
			t.Fatalf("register sensor-late: %d", code)
		}
	})
	want := []string{"gateway0", "sensor1", "gateway3", "sensor4", "sensor5", "gateway6", "sensor-late"}
	if !slices.Equal(got, want) {
		t.Errorf("pages with leaves and a join between them: %v, want %v", got, want)
	}
}
