package alert

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testTLS returns a server certificate for 127.0.0.1 and a client
// configuration that trusts it.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sink"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12},
		&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// deliverOne runs a Sender until it has delivered a to d or dead-lettered
// it, and returns the dead letter's error.
func deliverOne(t *testing.T, cfg SenderConfig, a Alert, d Destination) error {
	t.Helper()
	dead := make(chan error, 1)
	cfg.DeadLetter = func(_ Alert, _ Destination, err error) { dead <- err }
	if cfg.Attempts == 0 {
		cfg.Attempts = 2
	}
	cfg.Backoff = 10 * time.Millisecond
	s := NewSender(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.queue <- job{a, d}
	j := <-s.queue
	s.deliver(ctx, j)
	select {
	case err := <-dead:
		return err
	default:
		return nil
	}
}

var testAlert = Alert{Rule: "camera offline", Kind: KindOffline, Severity: "critical", State: StateFiring,
	Subject: "node:cam-3", Summary: "cam-3 offline since 10:00 (longer than 5m)", StartsAt: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}

// TestSlackDestinationPostsText: a Slack-compatible hook receives
// {"text": ...} naming the state, severity, rule and subject.
func TestSlackDestinationPostsText(t *testing.T) {
	got := make(chan map[string]string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		json.NewDecoder(r.Body).Decode(&body)
		got <- body
	}))
	defer srv.Close()
	if err := deliverOne(t, SenderConfig{}, testAlert, Destination{Name: "chat", Type: TypeSlack, URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	body := <-got
	if want := "[FIRING] [critical] camera offline: cam-3 offline since 10:00 (longer than 5m) (node:cam-3)"; body["text"] != want || len(body) != 1 {
		t.Fatalf("slack body %v; want text %q", body, want)
	}
}

// syslogSink accepts one connection on ln and returns the one
// octet-counted message it carries (RFC 6587).
func syslogSink(t *testing.T, ln net.Listener) <-chan string {
	t.Helper()
	out := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			out <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		n, err := br.ReadString(' ')
		size, _ := strconv.Atoi(strings.TrimSpace(n))
		if err != nil || size <= 0 {
			out <- fmt.Sprintf("bad frame length %q: %v", n, err)
			return
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(br, msg); err != nil {
			out <- "read: " + err.Error()
			return
		}
		out <- string(msg)
	}()
	return out
}

// TestSyslogDestinationRFC5424OverTCPAndTLS: the collector receives one
// octet-counted RFC 5424 record whose priority, structured data and
// message carry the alert, over plain TCP and over TLS; a collector whose
// certificate is not trusted gets nothing and the alert is dead-lettered.
func TestSyslogDestinationRFC5424OverTCPAndTLS(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	for _, scheme := range []string{"tcp", "tls"} {
		t.Run(scheme, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if scheme == "tls" {
				ln = tls.NewListener(ln, serverTLS)
			}
			got := syslogSink(t, ln)
			d := Destination{Name: "siem", Type: TypeSyslog, Address: scheme + "://" + ln.Addr().String()}
			if err := deliverOne(t, SenderConfig{TLS: clientTLS}, testAlert, d); err != nil {
				t.Fatal(err)
			}
			msg := <-got
			for _, want := range []string{"<82>1 ", " ward-coordinator - alert [ward@32473 rule=\"camera offline\" kind=\"device_offline\" severity=\"critical\" state=\"firing\" subject=\"node:cam-3\" starts_at=\"2026-12-06T10:00:00Z\"] [FIRING]"} {
				if !strings.Contains(msg, want) {
					t.Errorf("syslog record %q lacks %q", msg, want)
				}
			}
		})
	}
	t.Run("untrusted", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := tls.NewListener(ln, serverTLS).Accept()
				if err != nil {
					return
				}
				c.(*tls.Conn).Handshake()
				c.Close()
			}
		}()
		d := Destination{Name: "siem", Type: TypeSyslog, Address: "tls://" + ln.Addr().String()}
		if err := deliverOne(t, SenderConfig{Attempts: 1}, testAlert, d); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("delivery to an untrusted collector: %v; want a certificate error", err)
		}
	})
}

// TestSyslogMessageEscapesAndOneLine: quotes, brackets and backslashes in
// a subject are escaped in the structured data and a line break cannot
// start a second record.
func TestSyslogMessageEscapesAndOneLine(t *testing.T) {
	a := testAlert
	a.Subject, a.Summary = `ip:"x"]\`, "two\nlines"
	msg := SyslogMessage(a, time.Now())
	if !strings.Contains(msg, `subject="ip:\"x\"\]\\"`) || strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("record %q", msg)
	}
}

// smtpSink is a mail server on loopback speaking enough SMTP for one
// delivery, with STARTTLS when tlsCfg is set.
type smtpSink struct {
	ln     net.Listener
	tlsCfg *tls.Config
	mail   chan smtpMail
}

// smtpMail is what the sink received.
type smtpMail struct {
	from, auth string
	to         []string
	data       string
	tls        bool
	err        error
}

func newSMTPSink(t *testing.T, tlsCfg *tls.Config) *smtpSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &smtpSink{ln: ln, tlsCfg: tlsCfg, mail: make(chan smtpMail, 1)}
	go s.serve()
	return s
}

func (s *smtpSink) serve() {
	c, err := s.ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var m smtpMail
	tp := textproto.NewConn(c)
	tp.PrintfLine("220 sink ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			m.err = err
			s.mail <- m
			return
		}
		verb := strings.ToUpper(strings.Fields(line + " x")[0])
		switch {
		case verb == "EHLO" && s.tlsCfg != nil && !m.tls:
			tp.PrintfLine("250-sink")
			tp.PrintfLine("250-STARTTLS")
			tp.PrintfLine("250 AUTH PLAIN")
		case verb == "EHLO":
			tp.PrintfLine("250-sink")
			tp.PrintfLine("250 AUTH PLAIN")
		case verb == "STARTTLS":
			tp.PrintfLine("220 go ahead")
			tc := tls.Server(c, s.tlsCfg)
			if err := tc.Handshake(); err != nil {
				m.err = err
				s.mail <- m
				return
			}
			c, m.tls = tc, true
			tp = textproto.NewConn(tc)
		case verb == "AUTH":
			m.auth = line
			tp.PrintfLine("235 ok")
		case verb == "MAIL":
			m.from = line
			tp.PrintfLine("250 ok")
		case verb == "RCPT":
			m.to = append(m.to, line)
			tp.PrintfLine("250 ok")
		case verb == "DATA":
			tp.PrintfLine("354 go")
			b, err := tp.ReadDotBytes()
			m.data, m.err = string(b), err
			tp.PrintfLine("250 queued")
		case verb == "QUIT":
			tp.PrintfLine("221 bye")
			s.mail <- m
			return
		default:
			tp.PrintfLine("502 no")
		}
	}
}

// TestEmailDestinationOverSTARTTLS: the mail goes through STARTTLS with
// the password, to every recipient, its subject and body naming the
// alert; a server without STARTTLS never sees the password.
func TestEmailDestinationOverSTARTTLS(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	sink := newSMTPSink(t, serverTLS)
	d := Destination{Name: "oncall", Type: TypeEmail, Address: sink.ln.Addr().String(), From: "ward@example.com",
		To: []string{"ops@example.com", "plant@example.com"}, Username: "ward", Password: "hunter2"}
	if err := deliverOne(t, SenderConfig{TLS: clientTLS}, testAlert, d); err != nil {
		t.Fatal(err)
	}
	m := <-sink.mail
	if m.err != nil || !m.tls || m.auth == "" || !strings.Contains(m.from, "ward@example.com") || len(m.to) != 2 {
		t.Fatalf("mail %+v", m)
	}
	for _, want := range []string{"Subject: [FIRING] [critical] camera offline: cam-3", "To: ops@example.com, plant@example.com",
		"cam-3 offline since 10:00 (longer than 5m)", "Rule: camera offline (device_offline)"} {
		if !strings.Contains(m.data, want) {
			t.Errorf("mail lacks %q:\n%s", want, m.data)
		}
	}

	plain := newSMTPSink(t, nil)
	d.Address = plain.ln.Addr().String()
	if err := deliverOne(t, SenderConfig{Attempts: 1}, testAlert, d); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("delivery with a password to a server without STARTTLS: %v; want refused", err)
	}
	if m := <-plain.mail; m.auth != "" || m.data != "" {
		t.Fatalf("the server without TLS got %+v", m)
	}
}

// TestDestinationProblems: each destination type's missing parts are
// reported at the destination.
func TestDestinationProblems(t *testing.T) {
	tests := []struct{ dst, want string }{
		{`{"name": "x", "type": "pager"}`, `type "pager": one of webhook, slack, syslog, email`},
		{`{"name": "x", "type": "slack"}`, `slack destination "x" needs a url`},
		{`{"name": "x", "type": "syslog", "address": "udp://h:514"}`, `syslog destination "x" needs an address tcp://host:port or tls://host:port`},
		{`{"name": "x", "type": "email", "address": "smtp:25", "to": ["a@b"]}`, `email destination "x" needs from and to`},
		{`{"name": "x", "type": "email", "address": "smtp", "from": "a@b", "to": ["a@b"]}`, `email destination "x" needs an address host:port`},
		{`{"name": "x", "type": "email", "address": "smtp:25", "from": "a@b", "to": ["a@b"], "password": "p"}`, `needs both username and password`},
		{`{"name": "x", "type": "webhook", "url": "https://h/x"}`, `webhook "x" needs a secret`},
	}
	for _, tc := range tests {
		_, err := Parse("a.hujson", []byte(`{"destinations": [`+tc.dst+`]}`))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %s", tc.dst, err, tc.want)
		}
	}
	rs, err := Parse("a.hujson", []byte(`{"destinations": [
	  {"name": "chat", "type": "slack", "url": "https://hooks.example.com/T1/B2"},
	  {"name": "siem", "type": "syslog", "address": "tls://siem.example.com:6514"},
	  {"name": "mail", "type": "email", "address": "smtp.example.com:587", "from": "ward@example.com", "to": ["ops@example.com"]}],
	  "rules": [{"name": "keys", "kind": "key_expiring", "within": "24h", "to": ["chat", "siem", "mail"]},
	            {"name": "joins", "kind": "device_joined", "to": ["chat"]}]}`))
	if err != nil || len(rs.Destinations) != 3 || rs.Rules[0].Within != 24*time.Hour {
		t.Fatalf("good destinations: %v %+v", err, rs)
	}
}
