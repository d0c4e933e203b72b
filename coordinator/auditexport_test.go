package coordinator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/auditchain"
	"github.com/wardnet/ward/coordinator/store"
)

// auditSink collects the audit entries one destination received, in
// arrival order.
type auditSink struct {
	mu  sync.Mutex // mu guards the following
	got []auditchain.Entry
	bad []string
}

func (s *auditSink) add(line []byte) {
	var e auditchain.Entry
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := json.Unmarshal(line, &e); err != nil {
		s.bad = append(s.bad, fmt.Sprintf("%v: %q", err, line))
		return
	}
	s.got = append(s.got, e)
}

// check reports whether the sink got every entry up to last, in order:
// each arrival is the next ID, or one already delivered (at least once: a
// batch sent again). It returns the distinct entries in ID order.
func (s *auditSink) check(last int64) ([]auditchain.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bad) > 0 {
		return nil, fmt.Errorf("unparsable lines: %v", s.bad)
	}
	var out []auditchain.Entry
	for _, e := range s.got {
		switch {
		case e.ID == int64(len(out))+1:
			out = append(out, e)
		case e.ID > int64(len(out))+1:
			return nil, fmt.Errorf("entry %d arrived after %d: out of order or one lost", e.ID, len(out))
		}
	}
	if int64(len(out)) < last {
		return out, fmt.Errorf("got up to %d of %d", len(out), last)
	}
	return out, nil
}

// syslogListener is an RFC 6587 (octet counting) syslog collector on
// loopback that keeps each message's JSON line.
func syslogListener(t *testing.T, sink *auditSink) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go readSyslog(conn, sink)
		}
	}()
	return "tcp://" + ln.Addr().String()
}

// readSyslog reads octet-counted messages from conn until it closes.
func readSyslog(conn net.Conn, sink *auditSink) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		n, err := r.ReadString(' ')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil {
			sink.add([]byte("bad frame length " + n))
			return
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(r, msg); err != nil {
			return
		}
		if !bytes.HasPrefix(msg, []byte("<110>1 ")) || !bytes.Contains(msg, []byte(" ward-coordinator - audit [ward-audit@32473 id=")) {
			sink.add(append([]byte("bad header: "), msg...))
			continue
		}
		_, line, _ := bytes.Cut(msg, []byte("] {"))
		sink.add(append([]byte("{"), line...))
	}
}

// TestAuditExportStreamsToSyslogAndWebhookAcrossRestart: every audit
// event reaches a real syslog collector (RFC 5424, TCP) and a signed
// webhook on loopback as a JSON line, in order, each with the chain's
// prev_hash and hash (checked here as a SIEM would), across a coordinator
// restart and while the webhook refuses deliveries, which never hold up
// the admin writes being audited.
func TestAuditExportStreamsToSyslogAndWebhookAcrossRestart(t *testing.T) {
	const secret = "audit-export-secret"
	var syslogGot, hookGot auditSink
	var refuse atomic.Bool
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case refuse.Load():
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		case !alert.Valid(secret, r.Header.Get(alert.HeaderTimestamp), r.Header.Get(alert.HeaderSignature), body),
			r.Header.Get("Content-Type") != alert.ContentTypeJSONLines:
			http.Error(w, "bad signature or type", http.StatusUnauthorized)
			return
		}
		for line := range bytes.Lines(body) {
			hookGot.add(bytes.TrimSuffix(line, []byte("\n")))
		}
	}))
	defer hook.Close()
	rules, err := alert.Parse("alerts.hujson", fmt.Appendf(nil, `{
  "destinations": [
    {"name": "siem", "type": "syslog", "address": %q},
    {"name": "collector", "type": "webhook", "url": %q, "secret": %q},
  ],
  "audit_export": ["siem", "collector"],
}`, syslogListener(t, &syslogGot), hook.URL, secret))
	if err != nil {
		t.Fatal(err)
	}
	d := newCoordDir(t, testPolicy)
	d.tweak = func(cfg *Config) { cfg.AlertRules, cfg.AuditExportEvery = rules, 50*time.Millisecond }
	c := d.start("")
	c.mustRegister([]string{"tag:camera"}, "cam1")
	waitExported(t, c, &syslogGot, &hookGot)

	c.stop()
	refuse.Store(true)
	c = d.start("")
	for _, host := range []string{"cam2", "cam3"} {
		c.mustRegister([]string{"tag:camera"}, host) // audited at once, the webhook refusing
	}
	waitExported(t, c, &syslogGot)
	refuse.Store(false)
	waitExported(t, c, &syslogGot, &hookGot)
}

// waitExported waits until each sink has every event of c's audit log,
// then checks that the entries chain as the store's do.
func waitExported(t *testing.T, c *testCoord, sinks ...*auditSink) {
	t.Helper()
	evs, err := c.srv.st.ListAudit(context.Background(), store.AuditFilter{Order: store.ByID})
	if err != nil || len(evs) == 0 {
		t.Fatalf("list audit: %d, %v", len(evs), err)
	}
	last := int64(evs[len(evs)-1].ID)
	for _, s := range sinks {
		deadline := time.Now().Add(20 * time.Second)
		got, err := s.check(last)
		for ; err != nil && time.Now().Before(deadline); got, err = s.check(last) {
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range got[:last] {
			if e.Hash != evs[i].Hash || auditchain.Sum(e.PrevHash, e) != e.Hash || i > 0 && e.PrevHash != got[i-1].Hash {
				t.Fatalf("entry %d does not chain: %+v", e.ID, e)
			}
		}
	}
}

// TestAuditExportMovesToAnotherReplica: with two coordinators on one
// PostgreSQL, one streams the audit log; when it stops, the other takes
// the job over from the cursor in the database, and the collector still
// gets every event in order.
func TestAuditExportMovesToAnotherReplica(t *testing.T) {
	var got auditSink
	rules, err := alert.Parse("alerts.hujson", fmt.Appendf(nil, `{
  "destinations": [{"name": "siem", "type": "syslog", "address": %q}],
  "audit_export": ["siem"],
}`, syslogListener(t, &got)))
	if err != nil {
		t.Fatal(err)
	}
	cs := startReplicas(t, 2, testPolicy, func(c *Config) { c.AlertRules, c.AuditExportEvery = rules, 50*time.Millisecond })
	cs[0].mustRegister([]string{"tag:camera"}, "cam1")
	waitExported(t, cs[0], &got)
	holder := slices.IndexFunc(cs, func(c *testCoord) bool { return c.srv.runsJob(jobAuditExport) })
	if holder < 0 {
		t.Fatal("no replica holds the audit export")
	}
	other := cs[1-holder]
	cs[holder].stop()
	other.mustRegister([]string{"tag:camera"}, "cam2")
	other.mustRegister([]string{"tag:camera"}, "cam3")
	waitExported(t, other, &got)
}
