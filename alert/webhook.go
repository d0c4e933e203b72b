package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// States of an alert.
const (
	StateFiring   = "firing"
	StateResolved = "resolved"
)

// Headers of a webhook delivery.
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with
	// the webhook's secret, of the timestamp, ".", and the body.
	HeaderSignature = "X-Ward-Signature"
	// HeaderTimestamp is the delivery's Unix time in seconds; receivers
	// should refuse old ones (replays).
	HeaderTimestamp = "X-Ward-Timestamp"
)

// Alert is one notification, the JSON body a webhook receives.
type Alert struct {
	// Rule and Kind name the rule that fired; Severity is its severity.
	Rule     string `json:"rule"`
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	// State is StateFiring, or StateResolved for the recovery notice.
	State string `json:"state"`
	// Subject is what the alert is about: "node:cam-3", an identity.
	Subject string `json:"subject"`
	// Summary explains it with the numbers behind it.
	Summary string `json:"summary"`
	// StartsAt is when the condition began; EndsAt when it ended
	// (resolved only).
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at,omitzero"`
	// Tags are the device's tags when the alert is about a device (for
	// grouping and inhibition).
	Tags []string `json:"tags,omitempty"`
	// Alerts lists a group's alerts when one notification carries more
	// than one (see Notification.Body); the fields above then sum them up.
	Alerts []Alert `json:"alerts,omitempty"`
}

// Sign returns the signature header value for body sent at ts.
func Sign(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Valid reports whether sig is the signature of body sent at ts.
func Valid(secret, ts, sig string, body []byte) bool {
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(sig))
}

// job is one alert for one destination.
type job struct {
	a Alert
	w Destination
}

// Sender delivers alerts to destinations one at a time, in the order sent
// (so a recovery never overtakes its alert), retrying each with doubling
// waits; one that fails every attempt goes to the dead-letter function.
type Sender struct {
	client   *http.Client
	log      *slog.Logger
	attempts int
	backoff  time.Duration
	queue    chan job
	// tls configures syslog over TLS and SMTP's STARTTLS; nil: the
	// system's roots.
	tls *tls.Config
	// dead is called with an alert that could not be delivered.
	dead func(Alert, Destination, error)
}

// SenderConfig configures a Sender.
type SenderConfig struct {
	// Attempts per delivery (5); Backoff the first wait between them (1s),
	// doubling.
	Attempts int
	Backoff  time.Duration
	// Queue bounds the alerts waiting (1024); more go to DeadLetter.
	Queue int
	// DeadLetter is called for an alert not delivered; may be nil.
	DeadLetter func(Alert, Destination, error)
	Logger     *slog.Logger
	// TLS configures syslog over TLS and SMTP's STARTTLS (the roots a
	// private CA needs); nil: the system's roots.
	TLS *tls.Config
}

// NewSender returns a Sender; run it with Run.
func NewSender(cfg SenderConfig) *Sender {
	s := &Sender{client: &http.Client{Timeout: 10 * time.Second}, log: cfg.Logger, attempts: cfg.Attempts,
		backoff: cfg.Backoff, queue: make(chan job, max(cfg.Queue, 1)), dead: cfg.DeadLetter, tls: cfg.TLS}
	if s.attempts <= 0 {
		s.attempts = 5
	}
	if s.backoff <= 0 {
		s.backoff = time.Second
	}
	if cfg.Queue <= 0 {
		s.queue = make(chan job, 1024)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Send queues a for w; it never blocks (a full queue dead-letters a).
func (s *Sender) Send(a Alert, w Destination) {
	select {
	case s.queue <- job{a, w}:
	default:
		s.deadLetter(job{a, w}, fmt.Errorf("queue full"))
	}
}

// Run delivers queued alerts until ctx is done.
func (s *Sender) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-s.queue:
			s.deliver(ctx, j)
		}
	}
}

// deliver sends j, retrying with doubling waits.
func (s *Sender) deliver(ctx context.Context, j job) {
	wait := s.backoff
	for attempt := 1; ; attempt++ {
		err := s.sendOnce(ctx, j)
		if err == nil {
			return
		}
		if attempt == s.attempts || ctx.Err() != nil {
			s.deadLetter(j, err)
			return
		}
		s.log.Info("alert delivery failed; retrying", "destination", j.w.Name, "type", j.w.Type, "attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// sendOnce makes one attempt at delivering j.
func (s *Sender) sendOnce(ctx context.Context, j job) error {
	switch j.w.Type {
	case TypeSlack:
		body, err := json.Marshal(map[string]string{"text": j.a.Text()})
		if err != nil {
			return err
		}
		return s.post(ctx, j.w, body, "application/json", false)
	case TypeSyslog:
		for _, a := range j.a.members() {
			if err := s.syslog(ctx, j.w, a); err != nil {
				return err
			}
		}
		return nil
	case TypeEmail:
		return s.email(ctx, j.w, j.a)
	}
	body, err := json.Marshal(j.a)
	if err != nil {
		return err
	}
	return s.post(ctx, j.w, body, "application/json", true)
}

// Text renders a for people: one line (chat and mail subjects), and for a
// group a line more for each of its alerts.
func (a Alert) Text() string {
	state := "FIRING"
	if a.State == StateResolved {
		state = "RESOLVED"
	}
	if len(a.Alerts) > 0 {
		lines := []string{fmt.Sprintf("[%s] [%s] %s: %s", state, a.Severity, a.Rule, a.Subject)}
		for _, m := range a.Alerts {
			lines = append(lines, m.Text())
		}
		return strings.Join(lines, "\n")
	}
	return fmt.Sprintf("[%s] [%s] %s: %s (%s)", state, a.Severity, a.Rule, a.Summary, a.Subject)
}

// members returns a group's alerts, or a alone.
func (a Alert) members() []Alert {
	if len(a.Alerts) > 0 {
		return a.Alerts
	}
	return []Alert{a}
}

// post sends body of content type ctype to w once, signed when signed; a
// non-2xx answer is an error.
func (s *Sender) post(ctx context.Context, w Destination, body []byte, ctype string, signed bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	if signed {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign(w.Secret, ts, body))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s answered %s", w.Type, w.Name, resp.Status)
	}
	return nil
}

func (s *Sender) deadLetter(j job, err error) {
	s.log.Warn("alert not delivered (dead letter)", "destination", j.w.Name, "rule", j.a.Rule, "subject", j.a.Subject, "err", err)
	if s.dead != nil {
		s.dead(j.a, j.w, err)
	}
}
