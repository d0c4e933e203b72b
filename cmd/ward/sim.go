//go:build !ward_omit_sim

package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/internal/memlimit"
	"github.com/wardnet/ward/sim"
)

func newSimCmd() *cobra.Command {
	cfg := sim.Config{Shape: sim.DefaultShape}
	var policyFile, changeFile, apiKeyFile, simMemLimit string
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Simulate a fleet against a coordinator and measure it",
		Long: "Registers --nodes simulated nodes (real sessions, registration and map streams,\n" +
			"no data plane) with a coordinator, keeps every map stream open, and prints the\n" +
			"registration rate, how long a join and a policy change take to reach every\n" +
			"stream they touch (p50/p99/max), the size of full maps, and the coordinator's\n" +
			"RSS and CPU from /proc. Without --coordinator it starts `ward coordinator --dev`\n" +
			"as a child process in a temporary directory. It raises its file limit to the\n" +
			"hard limit and says when that caps the fleet.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Policy, err = readOptional(policyFile); err != nil {
				return err
			}
			if cfg.PolicyChange, err = readOptional(changeFile); err != nil {
				return err
			}
			if cfg.URL != "" {
				if cfg.APIKey, err = readOptional(apiKeyFile); err != nil || strings.TrimSpace(cfg.APIKey) == "" {
					return fmt.Errorf("--coordinator needs --api-key-file: %v", err)
				}
			} else if cfg.Binary, err = os.Executable(); err != nil {
				return fmt.Errorf("find the ward binary: %w", err)
			}
			out := cmd.OutOrStdout()
			cfg.Log = func(format string, args ...any) {
				fmt.Fprintf(cmd.ErrOrStderr(), time.Now().Format("15:04:05 ")+format+"\n", args...)
			}
			cfg.APIKey = strings.TrimSpace(cfg.APIKey)
			if cfg.SelfMemoryLimit, err = memlimit.Parse(simMemLimit); err != nil {
				return fmt.Errorf("--sim-memory-limit %q: %w", simMemLimit, err)
			}
			// Ctrl-C ends the run through its context, so the coordinator
			// the simulator started is stopped and its directory removed.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := sim.Run(ctx, cfg)
			if err != nil {
				return err
			}
			res.Print(out)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Nodes, "nodes", 1000, "simulated nodes to register before the timed changes")
	f.Float64Var(&cfg.Shape.Gateways, "gateways", sim.DefaultShape.Gateways, "share of gateways (tag:gateway)")
	f.Float64Var(&cfg.Shape.Cameras, "cameras", sim.DefaultShape.Cameras, "share of cameras (tag:camera)")
	f.Float64Var(&cfg.Shape.Sensors, "sensors", sim.DefaultShape.Sensors, "share of sensors (tag:sensor)")
	f.StringVar(&policyFile, "policy", "", "policy file to start with (default: sensors reach gateways on 8883)")
	f.StringVar(&changeFile, "policy-change", "", "policy file to switch to and back (default: adds 8884 for sensors and 554 for cameras)")
	f.StringVar(&cfg.URL, "coordinator", "", "coordinator URL (default: start `ward coordinator --dev` as a child process)")
	f.StringVar(&apiKeyFile, "api-key-file", "", "admin API key file for --coordinator")
	f.IntVar(&cfg.CoordinatorPID, "coordinator-pid", 0, "with --coordinator: its process id, to read RSS and CPU from /proc")
	f.IntVar(&cfg.StreamsPerConn, "streams-per-conn", 0, "nodes sharing each HTTP/2 connection (h2c), as behind an HTTP/2 load balancer; each keeps its own session and map stream (default: a connection per node, unless the file limit would cap the fleet)")
	f.IntVar(&cfg.Workers, "workers", 32, "registrations at once")
	f.IntVar(&cfg.Joins, "joins", 10, "single joins to time after the fleet settled")
	f.BoolVar(&cfg.GatewaysLast, "gateways-last", false, "register the gateways after every other node (each sensor's join changes every gateway's filter)")
	f.StringVar(&cfg.JoinTag, "join-tag", sim.TagSensor, "tag of the timed joins")
	f.IntVar(&cfg.PolicyChanges, "policy-changes", 4, "policy switches to time")
	f.DurationVar(&cfg.Settle, "settle", 10*time.Minute, "how long to wait for streams to hold their maps, and for each timed change")
	f.DurationVar(&cfg.Idle, "idle", 20*time.Second, "how long to watch the settled fleet for the idle CPU (0: skip)")
	f.BoolVar(&cfg.Verify, "verify", false, "check that every node holds exactly the peers the policy gives it")
	f.BoolVar(&cfg.Rollout, "rollout", false, "last, roll a target out to every node in waves (5, 25%, 100%) and time it to every device healthy")
	f.StringArrayVar(&cfg.CoordinatorArgs, "coordinator-arg", nil, "one more flag for the started coordinator, as --name=value (repeatable)")
	_ = f.MarkHidden("coordinator-arg")
	f.StringVar(&cfg.MemoryLimit, "coordinator-memory-limit", "", "the started coordinator's --memory-limit (its soft memory limit; default: its own)")
	f.StringVar(&simMemLimit, "sim-memory-limit", "", "the simulator's own soft memory limit (a size such as 10GiB, or off; default: GOMEMLIMIT, else half the machine's RAM)")
	f.StringVar(&cfg.Restart, "restart", "", "last, restart the coordinator (term: SIGTERM, kill: SIGKILL) on its data dir and port, and time the fleet's reconnection and admin calls meanwhile")
	f.BoolVar(&cfg.AdminListener, "admin-listener", false, "serve the started coordinator's admin API on a listener of its own (--admin-listen) and make the sim's admin calls there (with --restart: admin latency during the storm on its own accept queue)")
	f.StringVar(&cfg.Profile, "profile", "", "directory for the coordinator's pprof profiles (CPU, heap, goroutines)")
	return cmd
}

// readOptional returns the file's content, or "" for no file.
func readOptional(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return string(b), nil
}
