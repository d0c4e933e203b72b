package store

import (
	"crypto/sha256"
	"errors"
	"testing"
)

func TestRelays(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	h1, h2 := SecretHash(sha256.Sum256([]byte("wrl_one"))), SecretHash(sha256.Sum256([]byte("wrl_two")))
	r1, err := s.CreateRelay(ctx, NewRelay{Name: "fra1", URL: "wss://fra1.example.com/ward/v1/relay", Hash: h1, Prefix: "wrl_on", CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, nr := range []struct {
		name string
		r    NewRelay
		want error
	}{
		{"taken name", NewRelay{Name: "fra1", URL: "wss://x/", Hash: h2, Prefix: "p"}, ErrDuplicate},
		{"taken hash", NewRelay{Name: "nyc1", URL: "wss://x/", Hash: h1, Prefix: "p"}, ErrDuplicate},
		{"no url", NewRelay{Name: "nyc1", Hash: h2, Prefix: "p"}, ErrInvalid},
		{"no hash", NewRelay{Name: "nyc1", URL: "wss://x/", Prefix: "p"}, ErrInvalid},
	} {
		if _, err := s.CreateRelay(ctx, nr.r); !errors.Is(err, nr.want) {
			t.Errorf("%s: %v, want %v", nr.name, err, nr.want)
		}
	}
	if got, err := s.RelayByHash(ctx, h1); err != nil || got != r1 {
		t.Fatalf("by hash: %+v %v, want %+v", got, err, r1)
	}
	if _, err := s.RelayByHash(ctx, h2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown hash: %v, want ErrNotFound", err)
	}
	if _, err := s.CreateRelay(ctx, NewRelay{Name: "nyc1", URL: "wss://nyc1/", Hash: h2, Prefix: "wrl_tw"}); err != nil {
		t.Fatal(err)
	}
	if rs, err := s.ListRelays(ctx); err != nil || len(rs) != 2 || rs[0].Name != "fra1" || rs[1].Name != "nyc1" {
		t.Fatalf("list: %+v %v", rs, err)
	}
	if _, err := s.RemoveRelay(ctx, "fra1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RelayByHash(ctx, h1); !errors.Is(err, ErrNotFound) {
		t.Errorf("a removed relay's credential: %v, want ErrNotFound", err)
	}
	if _, err := s.RemoveRelay(ctx, "fra1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing it again: %v, want ErrNotFound", err)
	}
}
