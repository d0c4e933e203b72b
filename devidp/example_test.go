package devidp_test

import (
	"crypto/rand"
	"log"
	"net/http"

	"github.com/wardnet/ward/devidp"
)

// Example mounts the provider on a coordinator's own mux, as
// `ward coordinator --dev` does: the issuer is the coordinator's loopback
// URL plus devidp.DefaultPrefix, and the coordinator is the one client.
func Example() {
	const listen = "127.0.0.1:8080"
	secret := rand.Text() // handed to sso.Config.ClientSecret in process
	idp, err := devidp.New(devidp.Config{
		Issuer:     "http://" + listen + devidp.DefaultPrefix,
		ListenAddr: listen,
		Users:      nil, // the demo users; or devidp.LoadUsers(path)
		Clients: []devidp.Client{{
			ID:           "ward",
			Secret:       secret,
			RedirectURIs: []string{"http://" + listen + "/oidc/callback"},
		}},
	})
	if err != nil {
		log.Fatal(err) // for example devidp.ErrNotLoopback
	}
	mux := http.NewServeMux()
	mux.Handle(idp.Prefix()+"/", idp)
	// ... the coordinator's own routes, then http.ListenAndServe(listen, mux)
}
