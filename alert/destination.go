package alert

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"net/url"
	"os"
	"strings"
	"time"
)

// Destination types.
const (
	// TypeWebhook POSTs the alert's JSON, HMAC-signed (the default).
	TypeWebhook = "webhook"
	// TypeSlack POSTs {"text": ...} to a Slack-compatible incoming
	// webhook (Slack, Mattermost, Rocket.Chat); the URL is the secret.
	TypeSlack = "slack"
	// TypeSyslog sends an RFC 5424 message over TCP or TLS (RFC 6587
	// octet counting; RFC 5425 for TLS) to Address, "tcp://host:port" or
	// "tls://host:port".
	TypeSyslog = "syslog"
	// TypeEmail sends a mail through the SMTP server at Address
	// ("host:port"), with STARTTLS when the server offers it (required
	// before a password is sent), from From to To.
	TypeEmail = "email"
)

// Destination is where a rule's alerts go.
type Destination struct {
	Name string
	// Type is one of the Type constants; empty means TypeWebhook.
	Type string
	// URL is a webhook's or a Slack-compatible hook's URL.
	URL string
	// Secret keys a webhook body's HMAC-SHA256 (X-Ward-Signature).
	Secret string
	// Address is the syslog collector ("tls://siem:6514") or the SMTP
	// server ("smtp.example.com:587").
	Address string
	// From and To are an e-mail's sender and recipients; Username and
	// Password authenticate to the SMTP server (PLAIN, over TLS only).
	From     string
	To       []string
	Username string
	Password string
}

// dialTimeout bounds a syslog or SMTP connection's setup; ioTimeout one
// delivery's exchange.
const (
	dialTimeout = 10 * time.Second
	ioTimeout   = 20 * time.Second
)

// syslog sends a to d as one RFC 5424 message on a new connection.
func (s *Sender) syslog(ctx context.Context, d Destination, a Alert) error {
	return s.SyslogSend(ctx, d, []string{SyslogMessage(a, time.Now())})
}

// SyslogSend sends msgs, RFC 5424 messages, to the syslog collector d in
// order on one new connection, each framed by octet counting (RFC 6587).
func (s *Sender) SyslogSend(ctx context.Context, d Destination, msgs []string) error {
	u, err := url.Parse(d.Address)
	if err != nil {
		return fmt.Errorf("syslog %s: %w", d.Name, err)
	}
	dialer := &net.Dialer{Timeout: dialTimeout}
	var conn net.Conn
	switch u.Scheme {
	case "tcp":
		conn, err = dialer.DialContext(ctx, "tcp", u.Host)
	case "tls":
		td := &tls.Dialer{NetDialer: dialer, Config: s.tlsFor(u.Hostname())}
		conn, err = td.DialContext(ctx, "tcp", u.Host)
	default:
		return fmt.Errorf("syslog %s: scheme %q is not tcp or tls", d.Name, u.Scheme)
	}
	if err != nil {
		return fmt.Errorf("syslog %s: %w", d.Name, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(ioTimeout))
	w := bufio.NewWriter(conn)
	for _, msg := range msgs {
		fmt.Fprintf(w, "%d %s", len(msg), msg)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("syslog %s: %w", d.Name, err)
	}
	return nil
}

// tlsFor returns the Sender's TLS configuration for server name host.
func (s *Sender) tlsFor(host string) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.tls != nil {
		c = s.tls.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	return c
}

// syslogSeverity maps an alert's severity to a syslog severity (RFC 5424
// 6.2.1): critical 2, warning 4, info 6; a recovery is a notice (5).
func syslogSeverity(a Alert) int {
	if a.State == StateResolved {
		return 5
	}
	switch a.Severity {
	case "critical":
		return 2
	case "warning":
		return 4
	}
	return 6
}

// SyslogMessage renders a as an RFC 5424 message of facility
// security/authorization (10) sent at now: the alert's fields as
// structured data [ward@32473 ...] (32473 is the documentation
// enterprise number of RFC 5612) and its text as the message.
func SyslogMessage(a Alert, now time.Time) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "-"
	}
	pri := 10*8 + syslogSeverity(a)
	sd := fmt.Sprintf(`[ward@32473 rule="%s" kind="%s" severity="%s" state="%s" subject="%s" starts_at="%s"]`,
		sdEscape(a.Rule), sdEscape(a.Kind), sdEscape(a.Severity), sdEscape(a.State), sdEscape(a.Subject),
		a.StartsAt.UTC().Format(time.RFC3339))
	return fmt.Sprintf("<%d>1 %s %s ward-coordinator - alert %s %s", pri, now.UTC().Format(time.RFC3339Nano),
		printable(host, 255), sd, oneLine(a.Text()))
}

// sdEscape escapes a structured-data parameter value (RFC 5424 6.3.3).
func sdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(oneLine(s))
}

// oneLine replaces line breaks so one alert stays one record.
func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

// printable keeps a header field to printable US-ASCII of at most n bytes.
func printable(s string, n int) string {
	b := []byte(s)
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// errNoTLS refuses to send a password over a connection without TLS.
var errNoTLS = errors.New("the SMTP server offers no STARTTLS; refusing to send the password in clear")

// email sends a to d through its SMTP server.
func (s *Sender) email(ctx context.Context, d Destination, a Alert) error {
	host, _, err := net.SplitHostPort(d.Address)
	if err != nil {
		return fmt.Errorf("email %s: address %q: %w", d.Name, d.Address, err)
	}
	conn, err := (&net.Dialer{Timeout: dialTimeout}).DialContext(ctx, "tcp", d.Address)
	if err != nil {
		return fmt.Errorf("email %s: %w", d.Name, err)
	}
	conn.SetDeadline(time.Now().Add(ioTimeout))
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("email %s: %w", d.Name, err)
	}
	defer c.Close()
	if err := s.mailOver(c, d, host, a); err != nil {
		return fmt.Errorf("email %s: %w", d.Name, err)
	}
	return c.Quit()
}

// mailOver runs one mail transaction for a on c.
func (s *Sender) mailOver(c *smtp.Client, d Destination, host string, a Alert) error {
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(s.tlsFor(host)); err != nil {
			return err
		}
	} else if d.Password != "" {
		return errNoTLS
	}
	if d.Password != "" {
		if err := c.Auth(smtp.PlainAuth("", d.Username, d.Password, host)); err != nil {
			return err
		}
	}
	if err := c.Mail(d.From); err != nil {
		return err
	}
	for _, to := range d.To {
		if err := c.Rcpt(to); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	subject, _, _ := strings.Cut(a.Text(), "\n") // a group's first line
	fmt.Fprintf(bw, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		d.From, strings.Join(d.To, ", "), mime.QEncoding.Encode("utf-8", oneLine(subject)), time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(bw, "%s\r\n\r\nRule: %s (%s)\r\nSeverity: %s\r\nState: %s\r\nSubject: %s\r\nStarted: %s\r\n",
		oneLine(a.Summary), a.Rule, a.Kind, a.Severity, a.State, a.Subject, a.StartsAt.UTC().Format(time.RFC3339))
	if !a.EndsAt.IsZero() {
		fmt.Fprintf(bw, "Ended: %s\r\n", a.EndsAt.UTC().Format(time.RFC3339))
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return w.Close()
}
