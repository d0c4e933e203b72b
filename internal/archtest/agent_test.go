package archtest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// agentForbidden are the packages the device agent's build must not
// hold: the coordinator and everything only it needs (its web UI, the
// dev IdP, SQLite), the fleet simulator, the standalone relay server and
// the desktop client (with TUN mode's resolver and split DNS), and the
// administrator's tools (`ward acl`, `ward admin`: the policy compiler,
// alert rules, audit verification), and the kernel WireGuard engine with
// wgctrl (ward_omit_kernel); "x/..." is x and the packages below it.
var agentForbidden = []string{
	module + "/coordinator/...",
	module + "/assembly/...",
	module + "/web/...",
	module + "/devidp/...",
	module + "/sim/...",
	module + "/relay/relayd/...",
	module + "/client/...",
	module + "/stunserver/...",
	module + "/nameserver/...",
	module + "/splitdns/...",
	"github.com/miekg/dns/...",
	"github.com/godbus/dbus/...",
	"modernc.org/sqlite/...",
	"modernc.org/libc/...",
	"github.com/jackc/pgx/...",
	"github.com/labstack/echo/...",
	"github.com/zitadel/oidc/...",
	"github.com/coreos/go-oidc/...",
	"github.com/prometheus/client_golang/...",
	"html/template/...",
	module + "/acl/...",
	module + "/alert/...",
	module + "/auditchain/...",
	"github.com/tailscale/hujson/...",
	module + "/kernelwg/...",
	"golang.zx2c4.com/wireguard/wgctrl/...",
	"github.com/mdlayher/...",
}

// agentAllowed are packages under agentForbidden's prefixes that the
// agent needs: the OS's conventions (its state directory).
var agentAllowed = []string{module + "/client/desktop"}

// agentTags reads the build tags of `make agent` from the Makefile's
// AGENT_TAGS line, so the test checks the build CI makes.
func agentTags(t *testing.T) string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":="); ok && strings.TrimSpace(k) == "AGENT_TAGS" {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("Makefile: no AGENT_TAGS line")
	return ""
}

// TestAgentBuildHoldsNoCoordinator: the device agent's build of cmd/ward
// (`make agent`, for every target) depends on no coordinator package nor
// anything else only a coordinator, a relay server or a person's desktop
// needs, nor the kernel engine's wgctrl.
func TestAgentBuildHoldsNoCoordinator(t *testing.T) {
	tags := agentTags(t)
	for _, target := range [][2]string{{"linux", "arm64"}, {"linux", "mipsle"}} {
		for _, d := range agentDeps(t, tags, target) {
			if slices.Contains(agentAllowed, d) {
				continue
			}
			if underAny(d, agentForbidden) {
				t.Errorf("%s/%s agent build (-tags %s) holds %s", target[0], target[1], tags, d)
			}
		}
	}
}

// updaterOnly are the packages only the updater over the air needs:
// node/update, its TUF repository code and go-tuf with what go-tuf brings
// (sigstore, go-containerregistry; protobuf before go.mod replaced
// sigstore's protobuf-specs).
var updaterOnly = []string{
	module + "/node/update/...",
	module + "/release/...",
	"github.com/theupdateframework/...",
	"github.com/secure-systems-lab/...",
	"github.com/sigstore/...",
	"google.golang.org/protobuf/...",
	"github.com/google/go-containerregistry/...",
}

// TestAgentWithoutUpdaterHoldsNoTUF: the device agent built with
// ward_omit_update as well (`make agent-noupdate`) holds no package of
// the updater: no go-tuf, sigstore or protobuf.
func TestAgentWithoutUpdaterHoldsNoTUF(t *testing.T) {
	tags := agentTags(t) + ",ward_omit_update"
	for _, d := range agentDeps(t, tags, [2]string{"linux", "arm64"}) {
		if underAny(d, updaterOnly) {
			t.Errorf("linux/arm64 agent build (-tags %s) holds %s", tags, d)
		}
	}
}

// TestAgentUpdaterHoldsNoProtobuf: the device agent with its updater
// (`make agent`) holds no protobuf runtime. go-tuf's metadata package
// brings sigstore's pkg/signature, whose algorithm registry names two
// enums of sigstore's protobuf-specs; go.mod replaces that module with
// plain enums (replaced/protobuf-specs), since protobuf's reflection made
// the linker keep every exported method of every type in the agent (5.4
// MB of the arm64 agent's 17.8).
func TestAgentUpdaterHoldsNoProtobuf(t *testing.T) {
	tags := agentTags(t)
	deps := agentDeps(t, tags, [2]string{"linux", "arm64"})
	if !slices.Contains(deps, "github.com/theupdateframework/go-tuf/v2/metadata") {
		t.Fatalf("linux/arm64 agent build (-tags %s) holds no go-tuf: not the updater's graph", tags)
	}
	for _, d := range deps {
		if underAny(d, []string{"google.golang.org/protobuf/...", "google.golang.org/genproto/..."}) {
			t.Errorf("linux/arm64 agent build (-tags %s) holds %s", tags, d)
		}
	}
}

// agentDeps lists the packages of cmd/ward built with tags for target
// (GOOS, GOARCH), without cgo, and checks that it is the agent's graph.
func agentDeps(t *testing.T, tags string, target [2]string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-tags", tags, "./cmd/ward")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+target[0], "GOARCH="+target[1])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -tags %s: %v\n%s", tags, err, stderr.String())
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 || !slices.Contains(deps, module+"/node") {
		t.Fatalf("go list -deps gave %d packages without %s/node: not the agent's graph", len(deps), module)
	}
	return deps
}
