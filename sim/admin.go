package sim

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/wardnet/ward/apicall"
	"github.com/wardnet/ward/wire"
)

// admin calls the coordinator's admin API with an API key.
type admin struct {
	base, key string
	http      *http.Client
}

func newAdmin(base, key string) *admin {
	return &admin{base: base, key: key, http: &http.Client{Timeout: 5 * time.Minute}}
}

func (a *admin) do(ctx context.Context, method, path string, in, out any) error {
	return apicall.Do(ctx, a.http, apicall.Request{Method: method, URL: a.base + path, Token: a.key, Body: in,
		MaxAnswer: 1 << 20, Server: "coordinator"}, out)
}

// authKey makes a reusable pre-auth key for tag.
func (a *admin) authKey(ctx context.Context, tag string) (string, error) {
	var k wire.AuthKey
	err := a.do(ctx, http.MethodPost, wire.PathAdminAuthKeys, wire.CreateAuthKeyRequest{Tags: []string{tag}, Reusable: true, Expiry: "24h"}, &k)
	return k.Key, err
}

// setPolicy saves text as the running policy.
func (a *admin) setPolicy(ctx context.Context, text string) error {
	return a.do(ctx, http.MethodPut, wire.PathAdminPolicy, wire.SetPolicyRequest{Text: text, Comment: "ward sim", ParentID: -1}, nil)
}

// get reads path's whole answer (up to 256 MiB: the node list of a large
// fleet), for timing.
func (a *admin) get(ctx context.Context, path string) error {
	var raw json.RawMessage
	return apicall.Do(ctx, a.http, apicall.Request{Method: http.MethodGet, URL: a.base + path, Token: a.key,
		MaxAnswer: 256 << 20, Server: "coordinator"}, &raw)
}
