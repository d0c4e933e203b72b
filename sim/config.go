package sim

import (
	"fmt"
	"strings"
	"time"
)

// Shape is the fleet's make-up: the share of each kind of device. The
// shares need not add up to one; they are normalized.
type Shape struct {
	Gateways, Cameras, Sensors float64
}

// DefaultShape is the IoT fleet: 2 % gateways, 24.5 % cameras,
// 73.5 % sensors.
var DefaultShape = Shape{Gateways: 0.02, Cameras: 0.245, Sensors: 0.735}

// The tags of the three kinds of simulated device.
const (
	TagGateway = "tag:gateway"
	TagCamera  = "tag:camera"
	TagSensor  = "tag:sensor"
)

// plan returns the tags of a fleet of n in the shape's proportions, in
// an order where every prefix keeps them too (each node takes the kind
// furthest behind its share), so a small fleet has some of each.
func (s Shape) plan(n int) []string {
	tags := []string{TagGateway, TagCamera, TagSensor}
	shares := []float64{s.Gateways, s.Cameras, s.Sensors}
	total := s.Gateways + s.Cameras + s.Sensors
	counts := make([]int, len(tags))
	out := make([]string, n)
	for i := range out {
		best, behind := len(tags)-1, -1.0
		for k := range tags {
			if total <= 0 {
				break
			}
			if d := float64(i+1)*shares[k]/total - float64(counts[k]); d > behind {
				best, behind = k, d
			}
		}
		counts[best]++
		out[i] = tags[best]
	}
	return out
}

// DefaultPolicy is the fleet's policy: sensors may reach the gateways on
// 8883 (MQTT over TLS), nothing else.
const DefaultPolicy = `{
  "tagOwners": {
    "tag:gateway": ["sim@example.com"],
    "tag:camera":  ["sim@example.com"],
    "tag:sensor":  ["sim@example.com"],
  },
  "acls": [
    {"action": "accept", "src": ["tag:sensor"], "dst": ["tag:gateway:8883"], "proto": "tcp"},
  ],
}
`

// DefaultPolicyChange is the policy the sim switches to (and back from)
// to measure a change that touches every node: sensors also reach the
// gateways on 8884 (every sensor's grants and every gateway's filter
// change) and cameras may now reach the gateways on 554 (every camera
// gains the gateways as peers).
const DefaultPolicyChange = `{
  "tagOwners": {
    "tag:gateway": ["sim@example.com"],
    "tag:camera":  ["sim@example.com"],
    "tag:sensor":  ["sim@example.com"],
  },
  "acls": [
    {"action": "accept", "src": ["tag:sensor"], "dst": ["tag:gateway:8883,8884"], "proto": "tcp"},
    {"action": "accept", "src": ["tag:camera"], "dst": ["tag:gateway:554"], "proto": "tcp"},
  ],
}
`

// Config is one simulation run.
type Config struct {
	// Nodes is the fleet's size before the probes.
	Nodes int
	// Shape is the fleet's make-up; zero means DefaultShape.
	Shape Shape
	// Policy and PolicyChange are the policy texts (HuJSON) the run starts
	// with and switches to; "" means DefaultPolicy, DefaultPolicyChange.
	Policy, PolicyChange string
	// URL is the coordinator to use; "" starts a child `ward coordinator
	// --dev` from Binary.
	URL string
	// APIKey is the admin API key for URL (a started coordinator's is read
	// from its data directory).
	APIKey string
	// Binary is the ward executable to start the coordinator from.
	Binary string
	// CoordinatorPID, with URL, names the coordinator's process so its RSS
	// and CPU can be read from /proc; 0 means not measured.
	CoordinatorPID int
	// StreamsPerConn, when above 1, has that many nodes share each
	// HTTP/2 connection to the coordinator (h2c), as nodes behind an
	// HTTP/2 load balancer do: each node keeps its own machine key,
	// session, registration and map stream through the real control
	// client; only the transport is shared, and each node's requests name
	// its own source address in X-Forwarded-For (a coordinator the sim
	// starts trusts loopback proxies; give yours --trusted-proxy). 0
	// means one connection per node, unless the file limit would cap the
	// fleet: then the fewest that fit.
	StreamsPerConn int
	// Workers is how many registrations run at once; 0 means 32.
	Workers int
	// Joins is how many single joins are timed after the fleet settled;
	// PolicyChanges how many policy switches (alternating).
	Joins, PolicyChanges int
	// GatewaysLast registers the gateways after every other node (the
	// default spreads them through the fleet). Each sensor that joins
	// changes every gateway's filter, which lists every sensor: with the
	// gateways last, the fleet's registration sends the streams a few
	// hundred MB less, which on one shared machine is mostly the sim's own
	// decoding.
	GatewaysLast bool
	// JoinTag is the tag of the timed joins; "" means sensors.
	JoinTag string
	// Settle bounds the wait for every stream to hold its whole map, and
	// each probe's wait for its streams; 0 means 10 minutes.
	Settle time.Duration
	// Idle is how long the settled fleet is watched for the idle CPU; 0
	// skips it.
	Idle time.Duration
	// Verify compares every node's peers with the policy compiled in the
	// sim after the fleet settled and after the last policy change.
	Verify bool
	// Rollout, last, rolls a target out to every node (rollout.go) and
	// measures the time to every device healthy and the coordinator's
	// CPU and memory meanwhile.
	Rollout bool
	// Restart, when "term" or "kill", restarts the coordinator the sim
	// started once the timed changes are done: SIGTERM (or SIGKILL), then
	// the same binary on the same data directory and port; it measures
	// the time until every stream holds its map again and the admin API's
	// latency meanwhile (restart.go).
	Restart string
	// MemoryLimit, when set, is the started coordinator's --memory-limit.
	MemoryLimit string
	// CoordinatorArgs are more flags for the started coordinator (hidden
	// --coordinator-arg, repeatable): to compare a setting's effect,
	// --memory-give-back=false for one.
	CoordinatorArgs []string
	// SelfMemoryLimit is the simulator's own soft memory limit in bytes
	// (debug.SetMemoryLimit): 0 means GOMEMLIMIT when set, else half the
	// machine's RAM; negative means none.
	SelfMemoryLimit int64
	// AdminListener has the coordinator the sim starts serve the admin API
	// on a listener of its own (`--admin-listen`), which the sim's admin
	// calls (the policy, the keys, the restart's polls) then use: the
	// fleet's connections no longer share its accept queue.
	AdminListener bool
	// Profile, when not "", is a directory to write the coordinator's
	// pprof profiles to (CPU over the probes, heap, goroutines); a started
	// coordinator serves them on its metrics listener.
	Profile string
	// Log receives progress lines; nil means none.
	Log func(format string, args ...any)
}

func (c *Config) defaults() error {
	if c.Nodes <= 0 {
		return fmt.Errorf("nodes %d: want at least 1", c.Nodes)
	}
	if c.Shape == (Shape{}) {
		c.Shape = DefaultShape
	}
	if c.Policy == "" {
		c.Policy = DefaultPolicy
	}
	if c.PolicyChange == "" {
		c.PolicyChange = DefaultPolicyChange
	}
	if c.Workers <= 0 {
		c.Workers = 32
	}
	if c.JoinTag == "" {
		c.JoinTag = TagSensor
	}
	if !strings.HasPrefix(c.JoinTag, "tag:") {
		return fmt.Errorf("join tag %q: want tag:NAME", c.JoinTag)
	}
	if c.Settle <= 0 {
		c.Settle = 10 * time.Minute
	}
	if c.Log == nil {
		c.Log = func(string, ...any) {}
	}
	switch c.Restart {
	case "", "term", "kill":
	default:
		return fmt.Errorf("restart %q: want term or kill", c.Restart)
	}
	if c.AdminListener && c.URL != "" {
		return fmt.Errorf("admin listener: only for a coordinator the sim starts (no --coordinator)")
	}
	if c.Restart != "" && c.URL != "" {
		return fmt.Errorf("restart: only a coordinator the sim starts can be restarted (no --coordinator)")
	}
	if c.URL == "" && c.Binary == "" {
		return fmt.Errorf("no coordinator: give a URL or the ward binary to start one")
	}
	return nil
}
