package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Request is one of the person's access requests as the page lists it.
type Request struct {
	ID int64
	// Device, Proto and Port say what it asks for; Duration for how long.
	Device, Proto string
	Port          uint16
	Duration      time.Duration
	Reason        string
	// State is "pending", "approved", "denied" or "revoked"; DecidedBy who
	// decided it (empty while pending).
	State, DecidedBy string
	// Expires is when an approved request's access ends; zero otherwise.
	Expires time.Time
}

// Status is what the page shows of r's state: "approved until 15:04 by
// bob@example.com", "approved by bob@example.com, ended 15:04",
// "pending".
func (r Request) Status() string {
	by := strings.TrimPrefix(r.DecidedBy, "user:")
	switch {
	case r.State == "approved" && !r.Expires.IsZero() && !time.Now().Before(r.Expires):
		return "approved by " + by + ", ended " + r.Expires.Local().Format("15:04")
	case r.State == "approved" && !r.Expires.IsZero():
		return "approved until " + r.Expires.Local().Format("15:04") + " by " + by
	case r.DecidedBy != "":
		return r.State + " by " + by
	}
	return r.State
}

// NewRequest is what the page's request form asks for: access to Ports
// of Device for Duration, because of Reason. Each port is one request.
type NewRequest struct {
	Device   string
	Ports    []uint16
	Duration string
	Reason   string
}

// maxFormPorts bounds the ports one form files requests for.
const maxFormPorts = 16

// errForm is a request form the page refuses before asking anyone.
var errForm = errors.New("the request form is not valid")

// parseRequestForm reads the form of r: device, ports ("22, 8080"),
// duration ("2h") and reason.
func parseRequestForm(r *http.Request) (NewRequest, error) {
	r.Body = http.MaxBytesReader(nil, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return NewRequest{}, fmt.Errorf("%w: %v", errForm, err)
	}
	nr := NewRequest{Device: strings.TrimSpace(r.PostForm.Get("device")), Duration: strings.TrimSpace(r.PostForm.Get("duration")),
		Reason: strings.TrimSpace(r.PostForm.Get("reason"))}
	if nr.Device == "" || nr.Duration == "" {
		return NewRequest{}, fmt.Errorf("%w: name a device and a duration", errForm)
	}
	if d, err := time.ParseDuration(nr.Duration); err != nil || d <= 0 {
		return NewRequest{}, fmt.Errorf("%w: %q is not a duration like 2h", errForm, nr.Duration)
	}
	for f := range strings.FieldsFuncSeq(r.PostForm.Get("ports"), func(c rune) bool { return c == ',' || c == ' ' }) {
		p, err := strconv.ParseUint(f, 10, 16)
		if err != nil || p == 0 {
			return NewRequest{}, fmt.Errorf("%w: %q is not a port", errForm, f)
		}
		nr.Ports = append(nr.Ports, uint16(p))
	}
	if len(nr.Ports) == 0 || len(nr.Ports) > maxFormPorts {
		return NewRequest{}, fmt.Errorf("%w: name 1 to %d ports", errForm, maxFormPorts)
	}
	return nr, nil
}

// request files the form's requests on a same-origin POST, then shows
// the page again; a refused form or request shows the page with why.
func (s *Server) request(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r, s.hosts) {
		http.Error(w, "forbidden: cross-site request", http.StatusForbidden)
		return
	}
	nr, err := parseRequestForm(r)
	code := http.StatusBadRequest
	if err == nil {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		err = s.cfg.Request(ctx, nr)
		cancel()
		code = http.StatusBadGateway
	}
	if err != nil {
		s.cfg.Logger.Warn("access request from the status page", "err", err)
		s.render(w, code, "Request not filed: "+err.Error())
		return
	}
	http.Redirect(w, r, "/t/"+s.token+"/", http.StatusSeeOther)
}
