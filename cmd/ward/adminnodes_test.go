//go:build !ward_omit_admin

package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/wardnet/ward/wire"
)

// TestAdminNodesListPages: `ward admin nodes list` reads every page of
// the list (here pages of two, shorter than it asks, as a coordinator may
// answer under a selective filter), passes its filter on every page,
// stops at --limit, and takes an older coordinator's bare array as the
// whole list.
func TestAdminNodesListPages(t *testing.T) {
	var mu sync.Mutex
	var calls []string // guarded by mu
	bare := false      // guarded by mu
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, r.URL.RawQuery)
		all := make([]wire.AdminNode, 5)
		for i := range all {
			all[i].ID, all[i].Name = wire.NodeID(i+1), "n"+strconv.Itoa(i+1)
		}
		if bare {
			json.NewEncoder(w).Encode(all)
			return
		}
		q := r.URL.Query()
		limit, err := strconv.Atoi(q.Get(wire.NodePageLimitParam))
		if err != nil || limit < 1 || q.Get("risk") != "high" {
			http.Error(w, "bad page call "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		after, _ := strconv.Atoi(q.Get(wire.NodePageAfterParam))
		p := wire.AdminNodePage{Total: len(all)}
		for _, n := range all[after:min(after+min(limit, 2), len(all))] {
			p.Nodes = append(p.Nodes, n)
		}
		if last := p.Nodes[len(p.Nodes)-1].ID; int(last) < len(all) {
			p.Next = strconv.Itoa(int(last))
		}
		json.NewEncoder(w).Encode(p)
	}))
	defer srv.Close()
	t.Setenv("WARD_API_KEY", "wak_test_not_a_real_key")
	list := func(args ...string) []wire.AdminNode {
		t.Helper()
		mu.Lock()
		calls = nil
		mu.Unlock()
		var out bytes.Buffer
		cmd := adminCmd(&adminFlags{})
		cmd.SetArgs(append([]string{"--coordinator", srv.URL, "--json", "nodes", "list", "--risk", "high"}, args...))
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		if err := cmd.ExecuteContext(t.Context()); err != nil {
			t.Fatalf("nodes list %v: %v (%s)", args, err, out.String())
		}
		var ns []wire.AdminNode
		if err := json.Unmarshal(out.Bytes(), &ns); err != nil {
			t.Fatalf("nodes list %v: output %q: %v", args, out.String(), err)
		}
		return ns
	}
	names := func(ns []wire.AdminNode) (out []string) {
		for _, n := range ns {
			out = append(out, n.Name)
		}
		return out
	}
	tests := []struct {
		name      string
		args      []string
		bare      bool
		want      []string
		wantCalls int
	}{
		{"every page", nil, false, []string{"n1", "n2", "n3", "n4", "n5"}, 3},
		{"limit", []string{"--limit", "3"}, false, []string{"n1", "n2", "n3"}, 2},
		{"older coordinator", nil, true, []string{"n1", "n2", "n3", "n4", "n5"}, 1},
		{"older coordinator, limit", []string{"--limit", "2"}, true, []string{"n1", "n2"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			bare = tt.bare
			mu.Unlock()
			got := names(list(tt.args...))
			if !slices.Equal(got, tt.want) {
				t.Errorf("nodes = %v, want %v", got, tt.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(calls) != tt.wantCalls {
				t.Errorf("%d calls %q, want %d", len(calls), calls, tt.wantCalls)
			}
		})
	}
}
