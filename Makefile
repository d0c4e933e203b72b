# Ward build, test and benchmark targets. See README.md.
GO        ?= go
BIN       ?= bin/ward
PKGS      := ./...
# Packages where goroutines live run under the race detector.
RACE_PKGS ?= $(shell $(GO) list ./... | grep -E '/(coordinator|node|netstack|client|e2e|web|sim)(/|$$)' || true)

.PHONY: build agent agent-noupdate test vet lint cross bench bench-overlay bench-relay bench-sim run fuzz clean chromium nftables postgresql systemd-resolved browser-banner ui-bundle

build:
	$(GO) build -o $(BIN) ./cmd/ward

vet:
	$(GO) vet $(PKGS)

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# cross: the desktop client's other systems, without cgo. go vet compiles
# every package and test of ./... for each (its type checking needs them
# compiled, and the build cache keeps them), then cmd/ward is linked,
# to a throwaway file, so the build of each is whole.
CROSS ?= darwin/arm64 darwin/amd64 windows/amd64 windows/arm64
cross:
	@for t in $(CROSS); do \
		echo "cross $$t"; \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet $(PKGS) || exit 1; \
		CGO_ENABLED=0 GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) build -o /dev/null ./cmd/ward || exit 1; \
	done

# agent: the device agent's build of ward for small Linux devices: the
# coordinator (with its web UI, the dev IdP and SQLite), the fleet
# simulator, the standalone relay server, the desktop client, the
# administrator's tools (acl, admin) and the kernel WireGuard engine
# (ward_omit_kernel: wgctrl and its netlink packages) left out by build tags (see
# cmd/ward/*_omit.go; internal/archtest checks the import graph with
# these tags), stripped, without cgo, one go build per target into
# bin/agent/, with each binary's size printed. GOMIPS=softfloat for both
# MIPS targets (most MIPS routers have no FPU). The agent keeps the
# updater over the air (node/update, with go-tuf); agent-noupdate leaves
# it out too (ward_omit_update), into bin/agent-noupdate/.
AGENT_TAGS    := ward_omit_coordinator,ward_omit_sim,ward_omit_relay,ward_omit_desktop,ward_omit_admin,ward_omit_kernel,ward_omit_pprof,nethttpomithttp2
AGENT_TARGETS ?= amd64 arm64 arm/7 arm/6 mips mipsle riscv64
AGENT_DIR     ?= bin/agent
# AGENT_ARM64_MAX bounds the stripped arm64 agent (issue 12: 12 MB);
# AGENT_NOLIMIT=1 builds without the check.
AGENT_ARM64_MAX ?= 12000000
agent:
	@mkdir -p $(AGENT_DIR)
	@for t in $(AGENT_TARGETS); do \
		arch=$${t%/*}; arm=; case $$t in */*) arm=$${t#*/};; esac; \
		out=$(AGENT_DIR)/ward-linux-$$arch$${arm:+v$$arm}; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch GOARM=$$arm GOMIPS=softfloat \
			$(GO) build -tags $(AGENT_TAGS) -trimpath -ldflags='-s -w' -o $$out ./cmd/ward || exit 1; \
		echo "agent $$out $$(wc -c < $$out) bytes"; \
	done
	@if [ -z "$(AGENT_NOLIMIT)" ] && [ -f $(AGENT_DIR)/ward-linux-arm64 ] && \
		[ $$(wc -c < $(AGENT_DIR)/ward-linux-arm64) -gt $(AGENT_ARM64_MAX) ]; then \
		echo "agent: arm64 build over $(AGENT_ARM64_MAX) bytes (issue 12's small-device bound)"; exit 1; fi
agent-noupdate:
	@$(MAKE) --no-print-directory agent AGENT_TAGS=$(AGENT_TAGS),ward_omit_update AGENT_DIR=$(AGENT_DIR)-noupdate

# CHROMIUM is where the browser tests look for Chromium
# (browsertest.ChromiumPath).
CHROMIUM  := /usr/bin/chromium

# test: vet, gofmt, the cross builds, the device agent's builds, unit and e2e tests; the race detector on concurrent packages;
# every benchmark once so none rots. Without Chromium the browser tests skip,
# and a banner at the end says so; under CI=true they fail instead.
test: lint cross agent chromium nftables postgresql systemd-resolved
	$(GO) test -count=1 -timeout 20m $(PKGS)
	@if [ -n "$(RACE_PKGS)" ]; then $(GO) test -race -count=1 -timeout 20m $(RACE_PKGS); fi
	$(GO) test -count=1 -run '^$$' -bench . -benchtime=1x $(PKGS) >/dev/null
	@$(MAKE) --no-print-directory browser-banner

# chromium: Debian's Chromium for the web UI's browser tests, installed when
# missing.
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium) || $(MAKE) --no-print-directory browser-banner; fi

# nftables: Debian's nft for the NAT tests' routers (package nattest),
# installed when missing; without it those tests skip (fail under CI=true).
nftables:
	@if [ ! -x /usr/sbin/nft ]; then \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nftables) || \
		echo "NAT TESTS WILL SKIP: nftables could not be installed"; fi

# postgresql: Debian's PostgreSQL server programs for the store's and the
# replicas' tests (package internal/pgtest starts a throwaway server in a
# temporary directory), installed when missing; without them those tests
# skip with a banner (fail under CI=true).
PG_INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))
postgresql:
	@if [ -z "$(PG_INITDB)" ]; then \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql) || \
		echo "POSTGRESQL TESTS WILL SKIP: postgresql could not be installed"; fi

# systemd-resolved: Debian's systemd-resolved for the split-DNS test
# against the real resolver (client's TestTUNSplitDNSThroughSystemdResolved
# runs it on a private bus in a namespace), unpacked from its package into
# bin/testdeps/resolved and never installed: installing it would take over
# this machine's /etc/resolv.conf. The package's version is the installed
# systemd's where the archive has it (the binary loads systemd's shared
# library). dbus-daemon is installed when missing.
RESOLVED_DIR := bin/testdeps/resolved
systemd-resolved:
	@if [ ! -x /lib/systemd/systemd-resolved ] && [ ! -x $(RESOLVED_DIR)/lib/systemd/systemd-resolved ]; then \
		tmp=$$(mktemp -d) && chmod 755 $$tmp && v=$$(dpkg-query -W -f='$${Version}' systemd 2>/dev/null); \
		(cd $$tmp && (apt-get download systemd-resolved=$$v 2>/dev/null || \
			(apt-get update >/dev/null && (apt-get download systemd-resolved=$$v || apt-get download systemd-resolved)))) && \
		mkdir -p $(RESOLVED_DIR) && dpkg-deb -x $$tmp/systemd-resolved_*.deb $(RESOLVED_DIR) || \
		echo "SYSTEMD-RESOLVED TEST WILL SKIP (FAIL UNDER CI=true): its package could not be downloaded"; \
		rm -rf $$tmp; fi
	@if [ ! -x /usr/bin/dbus-daemon ]; then \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y dbus-daemon) || \
		echo "SYSTEMD-RESOLVED TEST WILL SKIP (FAIL UNDER CI=true): dbus-daemon could not be installed"; fi

# browser-banner: a banner no one can miss when Chromium is absent, so the
# browser tests skipped (they fail instead under CI=true).
browser-banner:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo; echo "################################################################"; \
		echo "#  BROWSER TESTS SKIPPED: chromium missing at $(CHROMIUM)"; \
		echo "#  install it (apt-get install chromium) and run make test again"; \
		echo "################################################################"; echo; fi

# ui-bundle: rebuild web/static/editor.js (CodeMirror 6) from web/ui/ with
# npm ci and esbuild. go build never needs it: the bundle is committed.
ui-bundle:
	cd web/ui && npm ci && npm run build

# bench: every benchmark; the relay's idle-memory figure with
# RELAY_IDLE_CONNS connected nodes (the issue measures 10,000).
RELAY_IDLE_CONNS ?= 10000
bench:
	RELAY_IDLE_CONNS=$(RELAY_IDLE_CONNS) $(GO) test -run '^$$' -bench . -benchmem $(PKGS)

# bench-overlay: the data path's figures (issue 12): two `ward node`
# processes, one TCP stream through the SOCKS5 proxy to an exposed
# service, both directions, on today's data path and on the legacy one
# (--legacy-datapath) interleaved in the same run; prints throughput, CPU
# seconds per GB of both nodes, RSS (idle, VmHWM, after the load) and the
# ratios new/legacy. BENCH_ROUNDS rounds of BENCH_MB MiB per transfer
# (over BENCH_STREAMS TCP connections at once, 1 by default);
# the memory is watched for BENCH_SETTLE after the load; the idle RSS is
# read BENCH_IDLE after the last node started. The nodes run the
# device agent's build (BENCH_NODE_TAGS, make agent's tags, stripped,
# without cgo) as a device runs it; BENCH_NODE_TAGS= runs them on the full
# build, and BENCH_FULL=1 adds a mode on the full build to the same run.
# BENCH_BASELINE_REV=cb21dfe adds a mode "base": ward built from git at
# that revision (main before issue 12's data path; its full build, as
# then: CGO_ENABLED=0, -trimpath, stripped), its own coordinator and two
# nodes on that binary, and prints new/base ratios beside new/legacy;
# the bench fails at once if the revision cannot be built.
BENCH_ROUNDS    ?= 3
BENCH_MB        ?= 256
BENCH_STREAMS   ?= 1
BENCH_SETTLE    ?= 60s
BENCH_IDLE      ?= 20s
BENCH_NODE_TAGS ?= $(AGENT_TAGS)
BENCH_FULL      ?=
BENCH_BASELINE_REV  ?=
BENCH_BASELINE_TAGS ?=
bench-overlay:
	WARD_BENCH_OVERLAY=1 WARD_BENCH_ROUNDS=$(BENCH_ROUNDS) WARD_BENCH_MB=$(BENCH_MB) WARD_BENCH_STREAMS=$(BENCH_STREAMS) WARD_BENCH_SETTLE=$(BENCH_SETTLE) \
		WARD_BENCH_IDLE=$(BENCH_IDLE) WARD_BENCH_NODE_TAGS=$(BENCH_NODE_TAGS) WARD_BENCH_FULL=$(BENCH_FULL) \
		WARD_BENCH_BASELINE_REV=$(BENCH_BASELINE_REV) WARD_BENCH_BASELINE_TAGS=$(BENCH_BASELINE_TAGS) \
		$(GO) test -count=1 -timeout 45m -run '^TestOverlayBenchmark$$' -v ./e2e

# bench-relay: the relay's figures as ARCHITECTURE.md records them (take
# the median of three): throughput and CPU per relayed gigabit, memory per
# idle connection. Run it on a quiet machine.
bench-relay:
	RELAY_IDLE_CONNS=$(RELAY_IDLE_CONNS) $(GO) test -run '^$$' -bench . -benchtime 3s -count 3 ./relay

# bench-sim: the large-fleet figures of README.md's "Large fleets": `ward
# sim` against a child `ward coordinator --dev`, one fleet size after the
# other (SIM_NODES), profiles in SIM_PROFILE/<size>/. Run it on a quiet
# machine; the file limit (ulimit -Hn) caps the largest fleet.
SIM_NODES   ?= 1000 5000 10000
SIM_FLAGS   ?= --joins 20 --policy-changes 4 --idle 20s
SIM_PROFILE ?= bin/sim-profiles
bench-sim: build
	@for n in $(SIM_NODES); do \
		echo "== ward sim --nodes $$n"; \
		$(BIN) sim --nodes $$n $(SIM_FLAGS) --profile $(SIM_PROFILE)/$$n || exit 1; \
	done

# fuzz: every fuzz target in $(PKGS), FUZZTIME each. The targets are found
# with go test -list, so a new one needs no line here.
FUZZTIME ?= 30s
fuzz:
	@list=$$($(GO) test -list '^Fuzz' $(PKGS)) || { echo "$$list"; exit 1; }; \
	echo "$$list" | awk '/^Fuzz/ { f[n++] = $$1; next } /^ok/ { for (i = 0; i < n; i++) print $$2, f[i]; n = 0 }' | \
	while read -r pkg target; do \
		echo "fuzz $$pkg $$target"; \
		$(GO) test "$$pkg" -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

# run: a coordinator on the embedded SQLite store in .data/, plain HTTP on
# loopback (dev mode), with the example policy. The first start writes an
# admin API key to .data/coordinator/admin-api-key. e2e's
# TestReadmeQuickStart runs this recipe's commands (with other ports).
run: build
	$(BIN) acl check examples/policy.hujson
	$(BIN) coordinator --dev --listen 127.0.0.1:8080 --metrics-listen 127.0.0.1:9090 --data-dir .data/coordinator --policy examples/policy.hujson

clean:
	rm -rf bin
