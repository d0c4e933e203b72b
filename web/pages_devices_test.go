package web_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/wardnet/ward/admin"
)

// devicesShown is what one Devices page showed: its rows and its pager.
type devicesShown struct {
	names             string // the rows' device names, space-separated
	rows              int
	first, prev, next string // the links' paths; empty when absent
	body              string
}

// getDevices fetches a Devices page as a; it fails the test unless it is
// a 200.
func getDevices(t *testing.T, a *agent, path string) devicesShown {
	t.Helper()
	resp := a.do("GET", path, "", nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	var d devicesShown
	var names []string
	for _, m := range regexp.MustCompile(`<tr id="device-([^"]+)">`).FindAllStringSubmatch(body, -1) {
		names = append(names, m[1])
	}
	d.names, d.rows, d.body = strings.Join(names, " "), len(names), body
	for id, p := range map[string]*string{"devices-first": &d.first, "devices-prev": &d.prev, "devices-next": &d.next} {
		if m := regexp.MustCompile(`<a href="([^"]+)" class="[^"]*" id="` + id + `">`).FindStringSubmatch(body); m != nil {
			*p = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	return d
}

// TestDevicesPrevious: the Devices page's Previous page link returns to
// exactly the page before, the filter kept, however far the admin went;
// past 64 pages the oldest cursors are dropped from the URL and Previous
// from the oldest page kept goes to the first page.
func TestDevicesPrevious(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sensors int
		start   string
		// pages is how many pages the walk forward sees.
		pages int
		// back is the pages (1 the first) Previous visits from the last,
		// in order, ending on the first page.
		back []int
		// mustHave is in every link of every page (the filter).
		mustHave string
		// truncated: the back list was cut, so a page reached by Previous
		// may link forward with a shorter back list than on the way out.
		truncated bool
	}{
		{name: "three pages and back", sensors: 450, start: "/ui/devices", pages: 3, back: []int{2, 1}},
		{name: "filter kept", sensors: 1100, start: "/ui/devices?q=sensor-0", pages: 5, back: []int{4, 3, 2, 1}, mustHave: "q=sensor-0"},
		{name: "filter and a second field kept", sensors: 1100, start: "/ui/devices?q=sensor-0&tag=tag%3Asensor", pages: 5, back: []int{4, 3, 2, 1}, mustHave: "tag=tag%3Asensor"},
		// 70 pages: the last carries the cursors of pages 6 to 69 (64),
		// those of pages 2 to 5 dropped; Previous from page 6 goes to
		// the first.
		{name: "past the bound", sensors: 69*200 + 50, start: "/ui/devices", pages: 70, back: append(countdown(69, 6), 1), truncated: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.b.AddSensors(tc.sensors)
			a := e.login(admin.RoleAuditor)
			var fwd []devicesShown
			paths := []string{}
			index := map[string]int{} // a page's names -> its number
			for path := tc.start; path != "" && len(fwd) < tc.pages+1; {
				d := getDevices(t, a, path)
				fwd = append(fwd, d)
				paths = append(paths, path)
				index[d.names] = len(fwd)
				path = d.next
			}
			if len(fwd) != tc.pages {
				t.Fatalf("walked %d pages forward, want %d", len(fwd), tc.pages)
			}
			checkLinks := func(n int, d devicesShown) {
				t.Helper()
				if n == 1 && (d.prev != "" || d.first != "") {
					t.Errorf("page 1 links to a previous page %q or the first %q", d.prev, d.first)
				}
				if n > 1 && (d.prev == "" || d.first == "") {
					t.Errorf("page %d lacks Previous page (%q) or First page (%q)", n, d.prev, d.first)
				}
				for _, l := range []string{d.first, d.prev, d.next} {
					if l != "" && !strings.Contains(l, tc.mustHave) {
						t.Errorf("page %d links to %q, which lost the filter %q", n, l, tc.mustHave)
					}
				}
				if tc.mustHave != "" && strings.Contains(d.body, "sensor-1") {
					t.Errorf("page %d shows a device the filter excludes", n)
				}
			}
			for i, d := range fwd {
				checkLinks(i+1, d)
				if d.rows == 0 {
					t.Errorf("page %d is empty", i+1)
				}
			}
			if fwd[len(fwd)-1].next != "" {
				t.Errorf("the last page links to a next page")
			}
			cur := fwd[len(fwd)-1]
			for step, want := range tc.back {
				if cur.prev == "" {
					t.Fatalf("step %d back: no Previous page link", step+1)
				}
				cur = getDevices(t, a, cur.prev)
				got, ok := index[cur.names]
				if !ok || got != want {
					t.Fatalf("step %d back: page %d (known %v), want page %d", step+1, got, ok, want)
				}
				checkLinks(want, cur)
				if want < tc.pages && !tc.truncated && cur.next != paths[want] {
					t.Errorf("page %d reached by Previous links forward to %q; on the way out %q", want, cur.next, paths[want])
				}
				if want < tc.pages && tc.truncated && getDevices(t, a, cur.next).names != fwd[want].names {
					t.Errorf("page %d reached by Previous: its Next page is not page %d", want, want+1)
				}
			}
			if cur.prev != "" || cur.first != "" {
				t.Errorf("the walk back ends on a page with Previous %q or First %q", cur.prev, cur.first)
			}
		})
	}
}

// countdown returns from, from-1, ..., to.
func countdown(from, to int) []int {
	var out []int
	for i := from; i >= to; i-- {
		out = append(out, i)
	}
	return out
}

// ids returns n increasing node ids from start, comma-separated.
func ids(start, n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = strconv.Itoa(start + i)
	}
	return strings.Join(s, ",")
}

// TestDevicesBackRefused: the back list is outside input: a malformed or
// oversized one is a 400 naming the parameter, never a page with wrong
// links; the longest the page writes (64 cursors) is accepted and its
// Next page link drops the oldest.
func TestDevicesBackRefused(t *testing.T) {
	e := newEnv(t)
	e.b.AddSensors(450)
	a := e.login(admin.RoleAuditor)
	for _, tc := range []struct {
		query string
		code  int
	}{
		{"after=200&back=", http.StatusOK},
		{"after=200&back=100", http.StatusOK},
		{"after=200&back=1,2,150", http.StatusOK},
		{"after=1000&back=" + ids(1, 64), http.StatusOK},
		{"after=200&back=x", http.StatusBadRequest},
		{"after=200&back=-5", http.StatusBadRequest},
		{"after=200&back=0", http.StatusBadRequest},
		{"after=200&back=1.5", http.StatusBadRequest},
		{"after=200&back=1,,2", http.StatusBadRequest},
		{"after=200&back=,", http.StatusBadRequest},
		{"after=200&back=1,", http.StatusBadRequest},
		{"after=200&back=%201", http.StatusBadRequest},
		{"after=200&back=5,3", http.StatusBadRequest},      // not increasing
		{"after=200&back=3,3", http.StatusBadRequest},      // repeated
		{"after=200&back=200", http.StatusBadRequest},      // not below after
		{"after=200&back=1,300", http.StatusBadRequest},    // not below after
		{"back=5", http.StatusBadRequest},                  // the first page has no pages before
		{"after=200&back=1&back=2", http.StatusBadRequest}, // two values
		{"after=200&back=99999999999999999999", http.StatusBadRequest},
		{"after=1000&back=" + ids(1, 65), http.StatusBadRequest},
		{"after=200&back=" + strings.Repeat("1", 100000), http.StatusBadRequest},
		{"after=200&back=" + strings.Repeat(",", 100000), http.StatusBadRequest},
	} {
		resp := a.do("GET", "/ui/devices?"+tc.query, "", nil)
		body := readBody(t, resp)
		if resp.StatusCode != tc.code {
			t.Errorf("GET ?%.80s: %s, want %d", tc.query, resp.Status, tc.code)
			continue
		}
		if tc.code == http.StatusBadRequest && !strings.Contains(body, "back must be at most 64 node ids") {
			t.Errorf("GET ?%.80s: the 400 does not say what back must be", tc.query)
		}
	}
	// The longest back list: Next drops the oldest and appends the page's
	// own cursor; Previous pops the last.
	d := getDevices(t, a, "/ui/devices?after=100&back="+ids(1, 64))
	if want := "back=" + strings.ReplaceAll(ids(2, 63), ",", "%2C") + "%2C100"; !strings.Contains(d.next, want) {
		t.Errorf("Next page link %q lacks %q", d.next, want)
	}
	if want := fmt.Sprintf("after=64&back=%s", strings.ReplaceAll(ids(1, 63), ",", "%2C")); !strings.HasSuffix(d.prev, want) {
		t.Errorf("Previous page link %q, want it to end with %q", d.prev, want)
	}
	if d := getDevices(t, a, "/ui/devices?after=100"); d.prev != "/ui/devices" || d.first != "/ui/devices" {
		t.Errorf("with no back list Previous is %q and First %q; want the first page", d.prev, d.first)
	}
}
