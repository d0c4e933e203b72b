package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/wardnet/ward/wire"
)

// keyExpiries are the expiries the create forms offer.
var keyExpiries = []struct{ Value, Label string }{
	{"1h", "1 hour"}, {"24h", "1 day"}, {"168h", "7 days"}, {"720h", "30 days"}, {"2160h", "90 days"},
}

// keysPage is the data of the Keys page. NewAuthKey and NewAPIKey carry a
// secret just created: shown once, on this response only.
type keysPage struct {
	AuthKeys   []wire.AuthKey
	APIKeys    []wire.APIKey
	Expiries   []struct{ Value, Label string }
	NewAuthKey *wire.AuthKey
	NewAPIKey  *wire.APIKey
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
	p := &keysPage{AuthKeys: ak, APIKeys: pk, Expiries: keyExpiries}
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

// actCreateAuthKey creates a pre-auth key and shows its secret once.
func (s *server) actCreateAuthKey(c echo.Context) error {
	req := wire.CreateAuthKeyRequest{Tags: splitList(c.FormValue("tags")), Reusable: c.FormValue("reusable") == "on",
		Ephemeral: c.FormValue("ephemeral") == "on", Expiry: c.FormValue("expiry")}
	k, err := s.b.CreateAuthKey(c.Request().Context(), req, principalOf(c))
	if err != nil {
		return err
	}
	v, p, err := s.keysView(c)
	if err != nil {
		return err
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
