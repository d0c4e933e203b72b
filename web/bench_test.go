package web_test

import (
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/web/webtest"
)

// FuzzFilters feeds the Devices and Audit query parsers outside input: a
// query is answered 200 or 400, never with a crash or a 500.
func FuzzFilters(f *testing.F) {
	f.Add("status=online&expiry=soon&seen=7d&q=cam")
	f.Add("since=1h&until=2026-01-02T03:04&limit=5&order=newest")
	f.Add("since=-5h&limit=-1&tag=%00")
	b := webtest.NewBackend(func() time.Time { return time.Unix(1e9, 0) })
	b.AddAPIKey(ownerKey, admin.RoleOwner)
	h, err := web.New(web.Config{}, b, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		vals, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		q = vals.Encode()
		for _, p := range []string{"/ward/v1/admin/nodes?", "/ward/v1/admin/audit?", "/ward/v1/admin/audit/export?format=csv&", "/ui/devices?"} {
			req := httptest.NewRequest("GET", p+q, nil)
			req.Header.Set("Authorization", "Bearer "+ownerKey)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if c := rec.Code; c != 200 && c != 400 && c != 303 {
				t.Fatalf("GET %s%s: %d %s", p, q, c, rec.Body)
			}
		}
	})
}
