package web_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/wire"
)

// TestHeldBackBodyRefused: authorization is checked before the body is
// read, so a client could pass it, hold the body back, and send it long
// after its principal was disabled. The body must come within the body
// timeout, or the request fails and changes nothing: a JSON body after an
// API key, and a form body after a session cookie.
func TestHeldBackBodyRefused(t *testing.T) {
	e := newEnv(t, func(c *web.Config) { c.BodyTimeout = 200 * time.Millisecond })
	owner := e.login(admin.RoleOwner)
	var cookies []string
	for _, ck := range owner.c.Jar.Cookies(mustURL(e.srv.URL)) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}
	tests := []struct {
		name, path, headers, body string
	}{
		{"api key, JSON", wire.PathAdminAuthKeys, "Authorization: Bearer " + ownerKey + "\r\nContent-Type: application/json\r\n",
			`{"tags":["tag:camera"]}`},
		{"session, form", "/ui/keys", "Cookie: " + strings.Join(cookies, "; ") + "\r\nContent-Type: application/x-www-form-urlencoded\r\n",
			"tags=tag:camera&csrf_token=" + owner.csrf},
		{"session, form, token in the header", "/ui/keys", "Cookie: " + strings.Join(cookies, "; ") +
			"\r\nX-CSRF-Token: " + owner.csrf + "\r\nContent-Type: application/x-www-form-urlencoded\r\n", "tags=tag:camera&expiry=24h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := e.b.ListAuthKeys(context.Background())
			conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s", tt.path, tt.headers, len(tt.body), tt.body[:1])
			conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // generous: the server answers after 200ms
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer while the body is held back: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Errorf("held-back body: %s, want a refusal", resp.Status)
			}
			conn.Write([]byte(tt.body[1:])) // the rest, too late
			if after, _ := e.b.ListAuthKeys(context.Background()); len(after) != len(before) {
				t.Errorf("a key was created from a held-back body: %d keys, had %d", len(after), len(before))
			}
		})
	}
}
