package coordinator

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// nodeListPolicy is the sim's fleet policy: sensors reach the gateways on
// 8883, so each gateway's peers are every sensor.
const nodeListPolicy = `{
  "tagOwners": {"tag:gateway": ["admin@example.com"], "tag:sensor": ["admin@example.com"]},
  "acls": [{"action": "accept", "src": ["tag:sensor"], "dst": ["tag:gateway:8883"], "proto": "tcp"}],
}`

// seedFleet registers size nodes (2 % gateways, the rest sensors) in the
// SQLite store of dataDir, in batches, before a coordinator opens it.
func seedFleet(b *testing.B, dataDir string, size int) {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dataDir)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	keys := map[string]store.SecretHash{}
	for _, tag := range []string{"tag:gateway", "tag:sensor"} {
		h := store.SecretHash(hashSecret("seed-" + tag))
		if _, err := st.CreateAuthKey(ctx, store.NewAuthKey{Hash: h, Prefix: "seed" + tag[4:8], Tags: []string{tag}, Reusable: true,
			CreatedBy: "bench", CreatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
		keys[tag] = h
	}
	const batch = 1000
	for start := 0; start < size; start += batch {
		var regs []store.KeyRegistration
		for i := start; i < min(start+batch, size); i++ {
			tag, name := "tag:sensor", fmt.Sprintf("sensor%d", i)
			if i%50 == 0 {
				tag, name = "tag:gateway", fmt.Sprintf("gateway%d", i)
			}
			var mk store.MachinePublic
			var wk store.WGPublic
			binary.BigEndian.PutUint64(mk[:], uint64(i+1))
			binary.BigEndian.PutUint64(wk[:], uint64(i+1))
			mk[31], wk[31] = 1, 2
			regs = append(regs, store.KeyRegistration{KeyHash: keys[tag], Now: time.Now(), Node: store.NewNode{Name: name,
				Hostname: name, OS: "linux", Version: "1.0.0", MachineKey: mk, WGKey: wk, KeyExpiry: time.Now().Add(24 * time.Hour)}})
		}
		for _, r := range st.RegisterBatch(ctx, regs) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
}

// BenchmarkNodeList measures the admin node list at a fleet of
// WARD_BENCH_FLEET nodes (default 10,000; 2 % gateways that every sensor
// reaches): one page of wire.NodePageDefault against the whole list, in
// the same run, and where the whole list's time went before pages (the
// store's read, each node's AdminNode with its peers' names as it was
// built, the JSON). Compare ns/op of page-500 with old-whole-list.
func BenchmarkNodeList(b *testing.B) {
	size := 10_000
	if s := os.Getenv("WARD_BENCH_FLEET"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("WARD_BENCH_FLEET=%q: want a fleet size", s)
		}
		size = n
	}
	c := startCoordWith(b, nodeListPolicy, func(cfg *Config) { seedFleet(b, cfg.DataDir, size) })
	ctx := context.Background()
	be, f := c.srv.Backend(), c.srv.fleet
	if p, err := be.NodePage(ctx, 0, 1, nil); err != nil || p.Total != size {
		b.Fatalf("fleet: %d nodes, %v; want %d", p.Total, err, size)
	}
	stored, err := f.st.ListNodes(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("page-500", func(b *testing.B) { // what the UI, the CLI and the sim's poll read
		for b.Loop() {
			if p, err := be.NodePage(ctx, 0, wire.NodePageDefault, nil); err != nil || len(p.Nodes) != wire.NodePageDefault {
				b.Fatalf("page: %d nodes, %v", len(p.Nodes), err)
			}
		}
	})
	b.Run("page-500-http", func(b *testing.B) {
		for b.Loop() {
			var p wire.AdminNodePage
			if code := c.admin("GET", wire.PathAdminNodes+"?limit=500&after=1000", nil, &p); code != 200 || len(p.Nodes) != 500 {
				b.Fatalf("GET page: %d, %d nodes", code, len(p.Nodes))
			}
		}
	})
	b.Run("old-whole-list", func(b *testing.B) { // Backend.ListNodes before pages
		for b.Loop() {
			ns, err := f.st.ListNodes(ctx)
			if err != nil {
				b.Fatal(err)
			}
			out := make([]wire.AdminNode, 0, len(ns))
			for _, n := range ns {
				out = append(out, f.adminNode(n))
			}
		}
	})
	b.Run("old-whole-list/store-read", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.st.ListNodes(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("old-whole-list/adminnode-with-peers", func(b *testing.B) {
		for b.Loop() {
			for _, n := range stored {
				f.adminNode(n)
			}
		}
	})
	b.Run("old-whole-list/adminnode-without-peers", func(b *testing.B) {
		for b.Loop() {
			for _, n := range stored {
				f.adminListNode(n)
			}
		}
	})
	all := make([]wire.AdminNode, 0, len(stored))
	for _, n := range stored {
		all = append(all, f.adminNode(n))
	}
	b.Run("old-whole-list/json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(all); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("whole-list-in-pages", func(b *testing.B) { // the bare array GET answers now
		for b.Loop() {
			var after int64
			for {
				p, err := be.NodePage(ctx, after, wire.NodePageMax, nil)
				if err != nil {
					b.Fatal(err)
				}
				if p.Next == "" {
					break
				}
				after, _ = strconv.ParseInt(p.Next, 10, 64)
			}
		}
	})
}
