package web_test

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/web/webtest"
	"github.com/wardnet/ward/wire"
)

// rowByID returns the table row with id in a page; it fails the test when
// there is none.
func rowByID(t *testing.T, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<tr id="` + regexp.QuoteMeta(id) + `">.*?</tr>`).FindString(body)
	if m == "" {
		t.Fatalf("no row %s in the page", id)
	}
	return m
}

// pillOf returns the text of a row's status pill.
func pillOf(row string) string {
	m := regexp.MustCompile(`<span class="pill[^"]*"[^>]*>([^<]+)</span>`).FindStringSubmatch(row)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestKeysPageShowsExpiredRevokedUsedKeys: the Keys page tells an active
// key from an expired, a revoked and a used-up single-use one, for
// pre-auth keys and API keys, and offers Revoke only on active keys.
func TestKeysPageShowsExpiredRevokedUsedKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	by := admin.Principal{Actor: "user:it@example.com"}
	mk := func(req wire.CreateAuthKeyRequest) int64 {
		k, err := e.b.CreateAuthKey(ctx, req, by)
		if err != nil {
			t.Fatal(err)
		}
		return k.ID
	}
	short := mk(wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}, Reusable: true, Expiry: "1h"})
	long := mk(wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}, Reusable: true, Expiry: "168h"})
	revoked := mk(wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}, Expiry: "168h"})
	once := mk(wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}, Expiry: "168h"})
	reused := mk(wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}, Reusable: true, Expiry: "168h"})
	if err := e.b.RevokeAuthKey(ctx, revoked, by.Actor); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{once, reused} {
		if err := e.b.UseAuthKey(id); err != nil {
			t.Fatal(err)
		}
	}
	apiShort, err := e.b.CreateAPIKey(ctx, wire.CreateAPIKeyRequest{Description: "short", Expiry: "1h"}, by)
	if err != nil {
		t.Fatal(err)
	}
	apiNever, err := e.b.CreateAPIKey(ctx, wire.CreateAPIKeyRequest{Description: "never"}, by)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour)

	body := readBody(t, e.login(admin.RoleOwner).do("GET", "/ui/keys", "", nil))
	for _, c := range []struct {
		row, want string
	}{
		{authKeyRow(short), "expired"}, {authKeyRow(long), "active"}, {authKeyRow(revoked), "revoked"},
		{authKeyRow(once), "used"}, {authKeyRow(reused), "active"},
		{apiKeyRow(apiShort.ID), "expired"}, {apiKeyRow(apiNever.ID), "active"},
	} {
		row := rowByID(t, body, c.row)
		if got := pillOf(row); got != c.want {
			t.Errorf("%s shows %q, want %q", c.row, got, c.want)
		}
		if hasRevoke := strings.Contains(row, ">Revoke</button>"); hasRevoke != (c.want == "active") {
			t.Errorf("%s (%s) offers Revoke: %v", c.row, c.want, hasRevoke)
		}
	}
}

func authKeyRow(id int64) string { return "authkey-" + itoa(int(id)) }
func apiKeyRow(id int64) string  { return "apikey-" + itoa(int(id)) }

// TestAuditDetailReadable: the Audit page lists an event's detail as
// key/value lines, with the raw JSON kept in a <details>.
func TestAuditDetailReadable(t *testing.T) {
	e := newEnv(t)
	a := e.login(admin.RoleAdmin)
	if resp := a.form("/ui/devices/cam-2/tags", map[string][]string{"tags": {"tag:sensor"}}, true); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("tag: %s", resp.Status)
	}
	body := readBody(t, a.do("GET", "/ui/audit", "", nil))
	for _, want := range []string{
		`<dt>count</dt><dd>4</dd><dt>port</dt><dd>23</dd><dt>src</dt><dd>bob@example.com</dd>`,
		`<dt>after</dt><dd>tag:sensor</dd><dt>before</dt><dd>tag:camera</dd>`,
		`<details class="raw"><summary>JSON</summary><pre>{
  &#34;count&#34;: 4,`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
	if strings.Contains(body, `{&#34;count&#34;:4`) {
		t.Error("the audit page still shows the detail as one line of raw JSON")
	}
}

// TestDeviceAccessGroupedBySource: a device's "who may reach it" has one
// row per source, its protocols and ports on one line in numeric order,
// not one row per protocol per port.
func TestDeviceAccessGroupedBySource(t *testing.T) {
	e := newEnv(t)
	body := readBody(t, e.login(admin.RoleAuditor).do("GET", "/ui/devices/cam-1", "", nil))
	table := regexp.MustCompile(`(?s)<table class="grid" id="access">.*?</table>`).FindString(body)
	rows := regexp.MustCompile(`<tr><td>([^<]+)</td><td class="mono">([^<]+)</td></tr>`).FindAllStringSubmatch(table, -1)
	got := map[string]string{}
	for _, r := range rows {
		if _, dup := got[r[1]]; dup {
			t.Errorf("source %s has more than one row", r[1])
		}
		got[r[1]] = r[2]
	}
	// Sources are nodes: carol, an operator too, has none.
	want := map[string]string{
		"alice@example.com": "tcp 80, 443, 554; udp 80, 443, 554; icmp",
		"bob@example.com":   "tcp 22; udp 22; icmp",
	}
	if len(rows) != len(want) || !maps.Equal(got, want) {
		t.Errorf("access rows = %v, want %v", got, want)
	}
}

// TestUsersPageShowsPolicyGroups: the Users page shows, next to each
// user's IdP groups, the policy file's groups that list their email, and
// follows a policy change.
func TestUsersPageShowsPolicyGroups(t *testing.T) {
	e := newEnv(t)
	a := e.login(admin.RoleAuditor)
	cell := func(body, user, class string) string {
		row := rowByID(t, body, user)
		m := regexp.MustCompile(`(?s)<td class="` + class + `">(.*?)</td>`).FindStringSubmatch(row)
		if m == nil {
			t.Fatalf("%s: no %s cell", user, class)
		}
		return strings.Join(regexp.MustCompile(`<span class="tag">([^<]+)</span>`).FindAllString(m[1], -1), " ")
	}
	tags := func(names ...string) string {
		var out []string
		for _, n := range names {
			out = append(out, `<span class="tag">`+n+`</span>`)
		}
		return strings.Join(out, " ")
	}
	body := readBody(t, a.do("GET", "/ui/users", "", nil))
	// Users 1-4: alice (ops), bob (eng, ward-network), carol (ops, ward-audit), dave (ward-owners).
	for _, c := range []struct{ user, idp, policy string }{
		{"user-1", tags("ops"), tags("group:operators")},
		{"user-2", tags("eng", "ward-network"), tags("group:engineers")},
		{"user-3", tags("ops", "ward-audit"), tags("group:operators")},
		{"user-4", tags("ward-owners"), ""},
	} {
		if got := cell(body, c.user, "idp-groups"); got != c.idp {
			t.Errorf("%s IdP groups %q, want %q", c.user, got, c.idp)
		}
		if got := cell(body, c.user, "policy-groups"); got != c.policy {
			t.Errorf("%s policy groups %q, want %q", c.user, got, c.policy)
		}
	}

	text := strings.Replace(webtest.SeedPolicy, `"group:engineers": ["bob@example.com"],`,
		`"group:engineers": ["bob@example.com"], "group:auditors": ["alice@example.com", "dave@example.com"],`, 1)
	if _, err := e.b.SetPolicy(context.Background(), text, "more groups", -1, admin.Principal{Actor: "user:owner@example.com", Role: admin.RoleOwner}); err != nil {
		t.Fatal(err)
	}
	body = readBody(t, a.do("GET", "/ui/users", "", nil))
	if got, want := cell(body, "user-1", "policy-groups"), tags("group:auditors", "group:operators"); got != want {
		t.Errorf("alice after the change: %q, want %q", got, want)
	}
	if got, want := cell(body, "user-4", "policy-groups"), tags("group:auditors"); got != want {
		t.Errorf("dave after the change: %q, want %q", got, want)
	}
}

// TestBadTagKeepsInput: a tag the policy does not own, typed on a device's
// page or in the pre-auth key form, shows the same form again (400) with
// the error and everything the admin typed, and changes nothing.
func TestBadTagKeepsInput(t *testing.T) {
	e := newEnv(t)
	a := e.login(admin.RoleITAdmin)
	before := e.b.Writes()

	resp := a.form("/ui/devices/cam-2/tags", url.Values{"tags": {"tag:sensor, tag:nope"}}, true)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad device tag: %s, want 400", resp.Status)
	}
	for _, want := range []string{`id="access"`, `id="tags-input" value="tag:sensor, tag:nope"`, `id="tags-error" role="alert">`, "tag:nope", "tagOwners"} {
		if !strings.Contains(body, want) {
			t.Errorf("device page after a bad tag lacks %q", want)
		}
	}
	if strings.Contains(body, `id="error"`) {
		t.Error("a bad device tag leads to the error page")
	}

	resp = a.form("/ui/keys", url.Values{"tags": {"tag:camera tag:nope"}, "reusable": {"on"}, "ephemeral": {"on"}, "expiry": {"168h"}}, true)
	body = readBody(t, resp)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad key tag: %s, want 400", resp.Status)
	}
	for _, want := range []string{`id="authkeys"`, `id="authkey-tags" value="tag:camera tag:nope"`, `id="authkey-reusable" checked`,
		`id="authkey-ephemeral" checked`, `<option value="168h" selected>`, `id="authkey-error" role="alert">`, "tagOwners"} {
		if !strings.Contains(body, want) {
			t.Errorf("keys page after a bad tag lacks %q", want)
		}
	}
	if strings.Contains(body, `id="new-authkey"`) || strings.Contains(body, `id="error"`) {
		t.Error("a bad key tag shows a new key or the error page")
	}
	if e.b.Writes() != before {
		t.Errorf("refused forms changed the backend: %d writes", e.b.Writes()-before)
	}

	// The fixed input goes through as before.
	if resp := a.form("/ui/devices/cam-2/tags", url.Values{"tags": {"tag:sensor"}}, true); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("good device tag: %s", resp.Status)
	}
	if body := readBody(t, a.do("GET", "/ui/keys", "", nil)); !strings.Contains(body, `<option value="24h" selected>`) ||
		!strings.Contains(body, `id="authkey-tags" value=""`) {
		t.Error("a fresh keys page does not show the form's defaults")
	}
}

// TestKeySoonRelativeToLifetime: a key is "expiring soon" (orange, and
// matched by expiry=soon) when less than a quarter of its own life is left,
// not whenever it ends within a week (which, with keys living 12-24 h,
// made every device orange). The page explains the colour.
func TestKeySoonRelativeToLifetime(t *testing.T) {
	e := newEnv(t)
	rows := regexp.MustCompile(`<td><a href="/ui/devices/([^"]+)">`)
	check := func(when string, wantClass map[string]string, wantSoon string) {
		t.Helper()
		a := e.login(admin.RoleAuditor) // a session lasts an hour
		body := readBody(t, a.do("GET", "/ui/devices", "", nil))
		for name, want := range wantClass {
			row := rowByID(t, body, "device-"+name)
			m := regexp.MustCompile(`<td class="(\w*)"(?: title="([^"]*)")?>(?:in \w+|expired|revoked[^<]*|never)</td>`).FindStringSubmatch(row)
			if m == nil {
				t.Fatalf("%s: %s has no key expiry cell", when, name)
			}
			if m[1] != want {
				t.Errorf("%s: %s key expiry class %q, want %q", when, name, m[1], want)
			}
			if (m[1] == "warn") != strings.Contains(m[2], "quarter of the key") {
				t.Errorf("%s: %s expiry title %q", when, name, m[2])
			}
		}
		if !strings.Contains(body, `id="expiry-legend"`) || !strings.Contains(body, "less than a quarter of the key's life left") {
			t.Errorf("%s: no legend for the key expiry colours", when)
		}
		var soon []string
		for _, m := range rows.FindAllStringSubmatch(readBody(t, a.do("GET", "/ui/devices?expiry=soon", "", nil)), -1) {
			soon = append(soon, m[1])
		}
		if got := strings.Join(soon, " "); got != wantSoon {
			t.Errorf("%s: expiry=soon lists %q, want %q", when, got, wantSoon)
		}
	}
	// Devices' keys live 24h, people's 12h (webtest's seed).
	check("now", map[string]string{"cam-1": "", "cam-2": "warn", "gw-1": "", "sensor-1": "bad", "alice-laptop": "", "bob-laptop": ""}, "cam-2")
	e.clock.Advance(8 * time.Hour)
	// cam-1 has 12h of 24h left; alice 2h of 12h, bob 1h; cam-2 expired.
	check("8h later", map[string]string{"cam-1": "", "cam-2": "bad", "alice-laptop": "warn", "bob-laptop": "warn"}, "alice-laptop bob-laptop")
}

// TestDeviceRenameRefusalKeepsInput: on a device's page, a name that is
// no DNS label (400) or another device's (409) shows the page again with
// the error and what the admin typed, and changes nothing; a good name
// renames the device, whose page then lives at the new name.
func TestDeviceRenameRefusalKeepsInput(t *testing.T) {
	e := newEnv(t)
	a := e.login(admin.RoleITAdmin)
	before := e.b.Writes()
	for _, tc := range []struct {
		name string
		code int
		says string
	}{
		{"Door_Cam", http.StatusBadRequest, "only a-z"},
		{"cam-1", http.StatusConflict, "taken"},
	} {
		resp := a.form("/ui/devices/cam-2/rename", url.Values{"name": {tc.name}}, true)
		body := readBody(t, resp)
		if resp.StatusCode != tc.code {
			t.Errorf("rename to %q: %s, want %d", tc.name, resp.Status, tc.code)
		}
		for _, want := range []string{`id="access"`, `id="name-input" value="` + tc.name + `"`, `id="name-error" role="alert">`, tc.says} {
			if !strings.Contains(body, want) {
				t.Errorf("device page after renaming to %q lacks %q", tc.name, want)
			}
		}
	}
	if e.b.Writes() != before {
		t.Errorf("refused renames changed the backend: %d writes", e.b.Writes()-before)
	}
	resp := a.form("/ui/devices/cam-2/rename", url.Values{"name": {"door-cam"}}, true)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/devices/door-cam") {
		t.Fatalf("good rename: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	body := readBody(t, a.do("GET", "/ui/devices/door-cam", "", nil))
	if !strings.Contains(body, `id="fqdn"`) || !strings.Contains(body, `id="name-input" value="door-cam"`) {
		t.Error("the renamed device's page lacks its DNS name or the rename form")
	}
}

// TestDevicesPages: the Devices page shows the fleet 200 devices at a
// time in id order, each page linking to the next (with the filter kept)
// and back to the first, every device on exactly one page; a bad cursor
// is 400.
func TestDevicesPages(t *testing.T) {
	e := newEnv(t)
	added := e.b.AddSensors(450)
	a := e.login(admin.RoleAuditor)
	rowRe := regexp.MustCompile(`<tr id="device-([^"]+)">`)
	linkRe := func(id string) *regexp.Regexp {
		return regexp.MustCompile(`<a href="([^"]+)" class="[^"]*" id="` + id + `">`)
	}
	walk := func(path string) (names []string, pages int, firstLinks int, lastBody string) {
		t.Helper()
		for path != "" && pages < 10 {
			resp := a.do("GET", path, "", nil)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %s", path, resp.Status)
			}
			for _, m := range rowRe.FindAllStringSubmatch(body, -1) {
				names = append(names, m[1])
			}
			if linkRe("devices-first").MatchString(body) {
				firstLinks++
			}
			path = ""
			if m := linkRe("devices-next").FindStringSubmatch(body); m != nil {
				path = strings.ReplaceAll(m[1], "&amp;", "&")
			}
			pages++
			lastBody = body
		}
		return names, pages, firstLinks, lastBody
	}
	resp := a.do("GET", "/ui/devices", "", nil)
	body := readBody(t, resp)
	total := len(rowRe.FindAllStringSubmatch(body, -1))
	if total != 200 || !strings.Contains(body, "200 shown of") {
		t.Fatalf("first page: %d rows; want 200 and the count", total)
	}
	names, pages, firsts, _ := walk("/ui/devices")
	if pages != 3 || firsts != 2 || len(names) < 450 {
		t.Errorf("walked %d pages (%d with a first-page link), %d devices; want 3 (2), every device", pages, firsts, len(names))
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("%s on two pages", n)
		}
		seen[n] = true
	}
	for _, n := range added {
		if !seen[n] {
			t.Errorf("%s on no page", n)
		}
	}
	// A filter pages and its next links keep it.
	names, pages, _, last := walk("/ui/devices?q=sensor-0")
	if len(names) != 450 || pages != 3 || !strings.Contains(last, `value="sensor-0"`) {
		t.Errorf("q=sensor-0: %d devices over %d pages; want 450 over 3, the search kept", len(names), pages)
	}
	for _, bad := range []string{"/ui/devices?after=x", "/ui/devices?after=-3"} {
		if resp := a.do("GET", bad, "", nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %s, want 400", bad, resp.Status)
		}
	}
}
