package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
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

// job is one alert for one webhook.
type job struct {
	a Alert
	w Webhook
}

// Sender delivers alerts to webhooks one at a time, in the order sent
// (so a recovery never overtakes its alert), retrying each with doubling
// waits; one that fails every attempt goes to the dead-letter function.
type Sender struct {
	client   *http.Client
	log      *slog.Logger
	attempts int
	backoff  time.Duration
	queue    chan job
	// dead is called with an alert that could not be delivered.
	dead func(Alert, Webhook, error)
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
	DeadLetter func(Alert, Webhook, error)
	Logger     *slog.Logger
}

// NewSender returns a Sender; run it with Run.
func NewSender(cfg SenderConfig) *Sender {
	s := &Sender{client: &http.Client{Timeout: 10 * time.Second}, log: cfg.Logger, attempts: cfg.Attempts,
		backoff: cfg.Backoff, queue: make(chan job, max(cfg.Queue, 1)), dead: cfg.DeadLetter}
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
func (s *Sender) Send(a Alert, w Webhook) {
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

// deliver posts j, retrying with doubling waits.
func (s *Sender) deliver(ctx context.Context, j job) {
	body, err := json.Marshal(j.a)
	if err != nil {
		s.deadLetter(j, err)
		return
	}
	wait := s.backoff
	for attempt := 1; ; attempt++ {
		err = s.post(ctx, j.w, body)
		if err == nil {
			return
		}
		if attempt == s.attempts || ctx.Err() != nil {
			s.deadLetter(j, err)
			return
		}
		s.log.Info("webhook delivery failed; retrying", "webhook", j.w.Name, "attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// post sends body to w once; a non-2xx answer is an error.
func (s *Sender) post(ctx context.Context, w Webhook, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.Secret, ts, body))
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s answered %s", w.Name, resp.Status)
	}
	return nil
}

func (s *Sender) deadLetter(j job, err error) {
	s.log.Warn("alert not delivered (dead letter)", "webhook", j.w.Name, "rule", j.a.Rule, "subject", j.a.Subject, "err", err)
	if s.dead != nil {
		s.dead(j.a, j.w, err)
	}
}
