package update

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/wardnet/ward/apicall"
	"github.com/wardnet/ward/release"
	"github.com/wardnet/ward/wire"
)

// Device is what a target must fit.
type Device struct {
	// GOOS, GOARCH and Model are the device's platform and model label
	// ("" matches only targets for any model).
	GOOS, GOARCH, Model string
}

// checkTarget refuses a target whose signed metadata c does not fit the
// assignment a, the device d, or is older than running (unless signed as
// a rollback). running "" or unparseable (a development build) accepts
// any version. It reports whether the target is what already runs.
func checkTarget(c release.Custom, a wire.UpdateAssignment, d Device, running string) (same bool, err error) {
	switch {
	case c.Kind != a.Kind:
		return false, fmt.Errorf("%w: signed as kind %q, assigned as %q", ErrRefused, c.Kind, a.Kind)
	case c.Version != a.Version:
		return false, fmt.Errorf("%w: signed as version %s, assigned as %s", ErrRefused, c.Version, a.Version)
	case c.GOOS != "" && c.GOOS != d.GOOS, c.GOARCH != "" && c.GOARCH != d.GOARCH:
		return false, fmt.Errorf("%w: built for %s/%s, this device is %s/%s", ErrRefused, c.GOOS, c.GOARCH, d.GOOS, d.GOARCH)
	case c.Model != "" && c.Model != d.Model:
		return false, fmt.Errorf("%w: for model %q, this device is %q", ErrRefused, c.Model, d.Model)
	}
	want, err := release.ParseVersion(c.Version)
	if err != nil {
		return false, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	have, err := release.ParseVersion(running)
	if err != nil {
		return false, nil
	}
	switch cmp := want.Compare(have); {
	case cmp == 0:
		return true, nil
	case cmp < 0 && !c.Rollback:
		return false, fmt.Errorf("%w: version %s is older than the running %s, and not signed as a rollback", ErrRefused, c.Version, running)
	}
	return false, nil
}

// isStatus reports whether err is an answer of HTTP status code.
func isStatus(err error, code int) bool {
	var ae *apicall.Error
	return errors.As(err, &ae) && ae.Status == code
}

// transient reports whether a failed fetch may succeed later: no answer,
// a 5xx, 408 or 429; every other failure is the repository's word.
func transient(err error) bool {
	var ae *apicall.Error
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusRequestTimeout
	}
	return errors.Is(err, apicall.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
