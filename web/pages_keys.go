package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/wardnet/ward/wire"
)

// keyExpiries are the expiries the create forms offer.
var keyExpiries = []struct{ Value, Label string }{
	{"1h", "1 hour"}, {"24h", "1 day"}, {"168h", "7 days"}, {"720h", "30 days"}, {"2160h", "90 days"},
}

// Key states the Keys page shows, each with its pill's class.
const (
	keyActive  = "active"
	keyRevoked = "revoked"
	keyExpired = "expired"
	keyUsed    = "used" // a single-use pre-auth key that registered a node
)

// authKeyRow is a pre-auth key with its state.
type authKeyRow struct {
	wire.AuthKey
	Status string // keyActive, keyRevoked, keyExpired or keyUsed
}

// apiKeyRow is an API key with its state.
type apiKeyRow struct {
	wire.APIKey
	Status string // keyActive, keyRevoked or keyExpired
}

// keyStatus is the state of a key: revoked wins over expired, expired over
// used up.
func keyStatus(revoked bool, expiry time.Time, usedUp bool, now time.Time) string {
	switch {
	case revoked:
		return keyRevoked
	case !expiry.IsZero() && !now.Before(expiry):
		return keyExpired
	case usedUp:
		return keyUsed
	}
	return keyActive
}

// authKeyForm is what the create form for pre-auth keys shows: its
// defaults, or what the admin typed when the backend refused it (then
// Error says why).
type authKeyForm struct {
	Tags                string
	Reusable, Ephemeral bool
	Expiry              string
	Error               string
}

// defaultAuthKeyForm is the create form's initial state.
var defaultAuthKeyForm = authKeyForm{Expiry: "24h"}

// keysPage is the data of the Keys page. NewAuthKey and NewAPIKey carry a
// secret just created: shown once, on this response only.
type keysPage struct {
	AuthKeys    []authKeyRow
	APIKeys     []apiKeyRow
	Expiries    []struct{ Value, Label string }
	AuthKeyForm authKeyForm
	NewAuthKey  *wire.AuthKey
	NewAPIKey   *wire.APIKey
}

func (s *server) keysView(c echo.Context) (view, *keysPage, error) {
	ctx := c.Request().Context()
	ak, err := s.b.ListAuthKeys(ctx)
	if err != nil {
		return view{}, nil, err
	}
	pk, err := s.b.ListAPIKeys(ctx)
	if err != nil {
		return view{}, nil, err
	}
	now := s.cfg.now()
	p := &keysPage{Expiries: keyExpiries, AuthKeyForm: defaultAuthKeyForm}
	for _, k := range ak {
		p.AuthKeys = append(p.AuthKeys, authKeyRow{k, keyStatus(k.Revoked, k.Expiry, !k.Reusable && k.UseCount > 0, now)})
	}
	for _, k := range pk {
		p.APIKeys = append(p.APIKeys, apiKeyRow{k, keyStatus(k.Revoked, k.Expiry, false, now)})
	}
	v := s.newView(c, "Keys", "keys")
	v.Data = p
	return v, p, nil
}

func (s *server) pageKeys(c echo.Context) error {
	v, _, err := s.keysView(c)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "keys.html", v)
}

// actCreateAuthKey creates a pre-auth key and shows its secret once. A
// request the backend refuses (a tag without a tagOwners entry) shows the
// form again with the error and the admin's input.
func (s *server) actCreateAuthKey(c echo.Context) error {
	form := authKeyForm{Tags: c.FormValue("tags"), Reusable: c.FormValue("reusable") == "on",
		Ephemeral: c.FormValue("ephemeral") == "on", Expiry: c.FormValue("expiry")}
	req := wire.CreateAuthKeyRequest{Tags: splitList(form.Tags), Reusable: form.Reusable, Ephemeral: form.Ephemeral, Expiry: form.Expiry}
	k, err := s.b.CreateAuthKey(c.Request().Context(), req, principalOf(c))
	if err != nil && !refusedInput(err) {
		return err
	}
	v, p, verr := s.keysView(c)
	if verr != nil {
		return verr
	}
	if err != nil {
		form.Error = publicMessage(err, http.StatusBadRequest)
		p.AuthKeyForm = form
		return s.render(c, http.StatusBadRequest, "keys.html", v)
	}
	p.NewAuthKey = &k
	return s.render(c, http.StatusCreated, "keys.html", v)
}

func (s *server) actRevokeAuthKey(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	if err := s.b.RevokeAuthKey(c.Request().Context(), id, principalOf(c).Actor); err != nil {
		return err
	}
	return done(c, "/ui/keys", "revoked")
}

// actCreateAPIKey creates an API key and shows its secret once.
func (s *server) actCreateAPIKey(c echo.Context) error {
	req := wire.CreateAPIKeyRequest{Description: c.FormValue("description"), Expiry: c.FormValue("expiry")}
	if fp, err := c.FormParams(); err == nil {
		req.Scopes = fp["scope"]
	}
	k, err := s.b.CreateAPIKey(c.Request().Context(), req, principalOf(c))
	if err != nil {
		return err
	}
	v, p, err := s.keysView(c)
	if err != nil {
		return err
	}
	p.NewAPIKey = &k
	return s.render(c, http.StatusCreated, "keys.html", v)
}

func (s *server) actRevokeAPIKey(c echo.Context) error {
	id, err := paramID(c)
	if err != nil {
		return err
	}
	if err := s.b.RevokeAPIKey(c.Request().Context(), id, principalOf(c).Actor); err != nil {
		return err
	}
	return done(c, "/ui/keys", "revoked")
}
