package coordinator

import (
	"context"
	"net/http"
	"net/netip"

	"github.com/wardnet/ward/clientaddr"
)

// clientAddrKey is the request context key of a request's client address.
type clientAddrKey struct{}

// withClientAddr finds each request's client address once, through the
// trusted proxies of the configuration (Config.TrustedProxies), and puts
// it in the request's context for ClientAddr.
func (s *Server) withClientAddr(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := s.clients.Addr(r)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientAddrKey{}, a)))
	})
}

// ClientAddr is the one place that says where a request comes from, for
// the per-source limits (sourceOf), the audit log and the pages people
// see (remoteIP), and the handlers mounted with Server.Handle (the admin
// UI takes it as its web.Config.ClientAddr): the address
// withClientAddr found, else the TCP peer. It is the zero Addr when the
// peer's address does not parse.
func ClientAddr(r *http.Request) netip.Addr {
	if a, ok := r.Context().Value(clientAddrKey{}).(netip.Addr); ok {
		return a
	}
	return clientaddr.Resolver{}.Addr(r)
}
