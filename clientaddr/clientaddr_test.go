package clientaddr

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestAddr(t *testing.T) {
	proxies := New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/64"),
		netip.MustParsePrefix("127.0.0.1/32")})
	long := strings.Repeat("10.0.0.9, ", maxHops) + "10.0.0.8"
	tests := []struct {
		name   string
		res    Resolver
		remote string
		xff    []string
		want   string
	}{
		{"no proxy trusted: the peer", Resolver{}, "192.0.2.1:5000", []string{"198.51.100.7"}, "192.0.2.1"},
		{"untrusted peer: header ignored", proxies, "192.0.2.1:5000", []string{"198.51.100.7"}, "192.0.2.1"},
		{"trusted peer, no header", proxies, "10.1.2.3:5000", nil, "10.1.2.3"},
		{"trusted peer: the client", proxies, "10.1.2.3:5000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"spoofed entries left of the client", proxies, "10.1.2.3:5000", []string{"1.1.1.1, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies", proxies, "127.0.0.1:5000", []string{"203.0.113.5, 10.9.9.9", "10.8.8.8"}, "203.0.113.5"},
		{"only trusted proxies: the leftmost", proxies, "10.1.2.3:5000", []string{"10.9.9.9, 10.8.8.8"}, "10.9.9.9"},
		{"garbage ends the walk at its writer", proxies, "10.1.2.3:5000", []string{"198.51.100.7, junk, 10.8.8.8"}, "10.8.8.8"},
		{"entry with a port", proxies, "10.1.2.3:5000", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"mapped IPv4 peer", proxies, "[::ffff:10.1.2.3]:5000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"IPv6 proxy", proxies, "[fd00::5]:5000", []string{"2001:db8::7"}, "2001:db8::7"},
		{"too long a chain: the last proxy looked at", proxies, "10.1.2.3:5000", []string{"198.51.100.7, " + long}, "10.0.0.9"},
		{"bad peer", proxies, "nonsense", []string{"198.51.100.7"}, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tt.res.Addr(r).String(); got != tt.want {
				t.Errorf("Addr = %s, want %s", got, tt.want)
			}
		})
	}
}

func FuzzAddr(f *testing.F) {
	f.Add("198.51.100.7, 10.0.0.1")
	f.Add("[::1]:80,,x")
	res := New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	f.Fuzz(func(t *testing.T, xff string) {
		r := &http.Request{RemoteAddr: "10.0.0.1:1", Header: http.Header{"X-Forwarded-For": {xff}}}
		if a := res.Addr(r); !a.IsValid() {
			t.Errorf("Addr(%q) is invalid", xff)
		}
	})
}
