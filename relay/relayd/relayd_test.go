package relayd

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Credential: "wrl_x"},
		{Coordinator: "ftp://127.0.0.1", Credential: "wrl_x"},
		{Coordinator: "127.0.0.1:8080", Credential: "wrl_x"},
		{Coordinator: "http://127.0.0.1:8080"},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v): %v, want ErrConfig", cfg, err)
		}
	}
}

// TestRelayNotReadyBeforeFeed: a relay that holds no feed says so on
// /healthz and refuses an upgrade, whatever token it bears.
func TestRelayNotReadyBeforeFeed(t *testing.T) {
	r, err := New(Config{Coordinator: "http://127.0.0.1:1", Credential: "wrl_x"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(r.Handler())
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || r.Ready() {
		t.Errorf("/healthz before the feed: %d, want 503", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", hs.URL+"/ward/v1/relay", nil)
	req.Header.Set("Authorization", "Bearer wrl_x")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("upgrade before the feed: %d, want 401", resp.StatusCode)
	}
}
