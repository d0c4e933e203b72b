package web

import (
	"fmt"
	"time"

	"github.com/wardnet/ward/wire"
)

// pathsView is a node's latest path report as its device page shows it.
type pathsView struct {
	// Reported says how long ago the report came.
	Reported string
	// Reflexive is the node's address as STUN servers see it; "unknown"
	// when it has none.
	Reflexive string
	// Relay names the home relay and whether it is connected.
	Relay string
	// Direct and Relayed are the bytes sent and received per path type.
	Direct, Relayed string
	Rows            []pathRow
}

// pathRow is the path to one peer.
type pathRow struct {
	Peer string
	// Path is "direct ADDR", "relay NAME" or "none"; Class colours it.
	Path, Class string
	// Why says why the pair is relayed or what is odd; may be empty.
	Why string
	// Handshake is how long ago the last handshake was; Latency the
	// direct path's round trip ("—" when unknown).
	Handshake, Latency string
}

// pathsOf describes p for the device page; nil when the node sent no
// report.
func pathsOf(p *wire.AdminPaths, now time.Time) *pathsView {
	if p == nil {
		return nil
	}
	v := &pathsView{Reported: agoFine(p.ReportedAt, now), Reflexive: "unknown", Relay: "none",
		Direct:  fmt.Sprintf("%s sent, %s received", byteSize(p.DirectTxBytes), byteSize(p.DirectRxBytes)),
		Relayed: fmt.Sprintf("%s sent, %s received", byteSize(p.RelayTxBytes), byteSize(p.RelayRxBytes))}
	if p.Reflexive.IsValid() {
		v.Reflexive = p.Reflexive.String()
	}
	if p.Relay != "" {
		v.Relay = p.Relay + " (not connected)"
		if p.RelayConnected {
			v.Relay = p.Relay + " (connected)"
		}
	}
	for _, pp := range p.Peers {
		v.Rows = append(v.Rows, pathRowOf(pp, now))
	}
	return v
}

func pathRowOf(pp wire.AdminPeerPath, now time.Time) pathRow {
	r := pathRow{Peer: pp.Name, Path: pp.Kind, Why: pp.Note, Handshake: agoFine(pp.LastHandshake, now), Latency: "—"}
	switch pp.Kind {
	case wire.PathKindDirect:
		r.Path, r.Class = "direct "+pp.Addr.String(), "ok"
	case wire.PathKindRelay:
		r.Path, r.Class = "relay", "warn"
		if pp.Relay != "" {
			r.Path = "relay " + pp.Relay
		}
	default:
		r.Class = "bad"
	}
	if d := pp.RTT(); d > 0 {
		r.Latency = latency(d)
	}
	return r
}

// agoFine is ago to the second under a minute ("12s ago").
func agoFine(t, now time.Time) string {
	if d := now.Sub(t); !t.IsZero() && d < time.Minute {
		return fmt.Sprintf("%ds ago", int(max(d, 0).Seconds()))
	}
	return ago(t, now)
}

// latency shows a round trip: microseconds below a millisecond, else
// tenths of milliseconds.
func latency(d time.Duration) string {
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

// byteSize shows n bytes in B, KB, MB, GB or TB (powers of 1000).
func byteSize(n uint64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n)/unit, 0
	for f >= unit && i < 3 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %cB", f, "KMGT"[i])
}
