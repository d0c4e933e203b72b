package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

// fleet is the fleet size the benchmarks measure against.
const fleet = 10_000

func BenchmarkRegisterWithAuthKey(b *testing.B) {
	names := []struct {
		name string
		of   func(i int) string
	}{
		{"unique names", func(i int) string { return fmt.Sprintf("cam%d", i) }},
		// Every registration after the first takes a suffix, as when a fleet
		// of identical devices reports one hostname.
		{"same name", func(int) string { return "cam" }},
	}
	for _, nm := range names {
		b.Run(nm.name, func(b *testing.B) {
			s, _ := openTest(b)
			seedNodes(b, s, fleet)
			k := tagKey("bench")
			k.Reusable = true
			mustAuthKey(b, s, k)
			ctx := context.Background()
			i := 0
			for b.Loop() {
				nn := newNode(i)
				nn.Name = nm.of(i)
				if _, _, err := s.RegisterWithAuthKey(ctx, secret("bench"), t0, nn); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkListNodes(b *testing.B) {
	s, _ := openTest(b)
	seedNodes(b, s, fleet)
	ctx := context.Background()
	for b.Loop() {
		nodes, err := s.ListNodes(ctx)
		if err != nil || len(nodes) != fleet {
			b.Fatalf("ListNodes: %d nodes, %v", len(nodes), err)
		}
	}
}

func BenchmarkAppendAudit(b *testing.B) {
	s, _ := openTest(b)
	ctx := context.Background()
	detail := json.RawMessage(`{"name":"cam-17","tags":["tag:camera"]}`)
	i := 0
	for b.Loop() {
		e := AuditEvent{Time: t0, Actor: "apikey:ab12", Action: "node.register",
			Target: fmt.Sprintf("node:%d", i), Source: "192.0.2.1:443", Detail: detail}
		if _, err := s.AppendAudit(ctx, e); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkAllocateAfterChurn(b *testing.B) {
	s, _ := openTest(b)
	seedNodes(b, s, fleet)
	ctx := context.Background()
	// Quarantine a thousand addresses, half of them expired by t0.
	for id := NodeID(1); id <= 1000; id++ {
		after := t0.Add(-1)
		if id%2 == 0 {
			after = t0.Add(DefaultQuarantine)
		}
		if _, err := s.DeleteNode(ctx, id, after); err != nil {
			b.Fatal(err)
		}
	}
	k := tagKey("churn")
	k.Reusable = true
	mustAuthKey(b, s, k)
	i := 0
	for b.Loop() {
		if _, _, err := s.RegisterWithAuthKey(ctx, secret("churn"), t0, newNode(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
