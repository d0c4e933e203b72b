package fault_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/wardnet/ward/fault"
)

var (
	errMissing = fault.New(fault.NotFound, "not found")
	errRefused = fault.New(fault.Forbidden, "forbidden")
	errPlain   = errors.New("plain")
)

// TestKindOf: the greatest kind in the chain wins, through both Unwrap
// forms; an error of no kind is Internal.
func TestKindOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want fault.Kind
	}{
		{"nil", nil, fault.Internal},
		{"plain", errPlain, fault.Internal},
		{"sentinel", errMissing, fault.NotFound},
		{"wrapped", fmt.Errorf("node cam1: %w", errMissing), fault.NotFound},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", errRefused)), fault.Forbidden},
		{"joined, greatest wins", errors.Join(errMissing, errRefused), fault.Forbidden},
		{"two %w, greatest wins", fmt.Errorf("%w: %w", errRefused, errMissing), fault.Forbidden},
		{"Wrap", fault.Wrap(fault.Conflict, errPlain), fault.Conflict},
		{"Wrap of a lesser kind", fault.Wrap(fault.Invalid, errRefused), fault.Forbidden},
	}
	for _, tt := range tests {
		if got := fault.KindOf(tt.err); got != tt.want {
			t.Errorf("%s: KindOf(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// TestErrorText: an Error reads as its cause unless it carries a public
// message, and keeps its cause in the chain either way.
func TestErrorText(t *testing.T) {
	cause := errors.New("disk I/O error: /var/lib/ward/db")
	hidden := &fault.Error{Kind: fault.Unavailable, Msg: "storage unavailable; try again later", Err: cause}
	if hidden.Error() != "storage unavailable; try again later" || !errors.Is(hidden, cause) {
		t.Errorf("hidden = %q, Is(cause) %v", hidden, errors.Is(hidden, cause))
	}
	w := fault.Wrap(fault.Invalid, cause)
	if w.Error() != cause.Error() || !errors.Is(w, cause) {
		t.Errorf("Wrap = %q", w)
	}
	if fault.Wrap(fault.Invalid, nil) != nil {
		t.Error("Wrap(nil) is not nil")
	}
}

func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		k    fault.Kind
		want int
	}{
		{fault.Internal, 500}, {fault.Invalid, 400}, {fault.Conflict, 409}, {fault.NotFound, 404},
		{fault.RateLimited, 429}, {fault.TooLarge, 413}, {fault.UpgradeRequired, 426}, {fault.Forbidden, 403},
		{fault.Unauthenticated, 401}, {fault.Unavailable, 503}, {fault.Kind(200), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		if got := tt.k.HTTPStatus(); got != tt.want {
			t.Errorf("%v.HTTPStatus() = %d, want %d", tt.k, got, tt.want)
		}
	}
}
