package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/wardnet/ward/node/localapi"
)

// The client API, HTTP over the unix socket SocketName (mode 0600):
//
//	GET  /status          Status
//	POST /login           LoginRequest → LoginStart
//	GET  /login/wait?id=  LoginResult, once the login is done
//	POST /logout          LogoutResult
//	POST /quit            204; the daemon stops (the session's key stays
//	                      valid until it expires or `ward down`)
//
// Errors are JSON {"error": "..."} with a 4xx or 5xx status.

// apiServer serves the client API for a Daemon.
type apiServer struct {
	d   *Daemon
	log *slog.Logger
}

func (a *apiServer) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.d.ClientStatus())
	})
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("GET /login/wait", a.wait)
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.d.Logout(r.Context()))
	})
	mux.HandleFunc("POST /quit", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		a.d.quit()
	})
	return mux
}

func (a *apiServer) login(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("decode login request: %w", err))
		return
	}
	res, err := a.d.StartLogin(r.Context(), req)
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *apiServer) wait(w http.ResponseWriter, r *http.Request) {
	res, err := a.d.WaitLogin(r.Context(), r.URL.Query().Get("id"))
	switch {
	case errors.Is(err, ErrUnknownLogin):
		writeError(w, http.StatusNotFound, err)
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err)
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

// serveHTTP serves h on l until ctx is done, then shuts the server down.
func serveHTTP(ctx context.Context, l net.Listener, h http.Handler) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	hs.Close()
	if err == nil {
		err = <-errc
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) { localapi.WriteJSON(w, status, v) }

func writeError(w http.ResponseWriter, status int, err error) { localapi.WriteError(w, status, err) }
