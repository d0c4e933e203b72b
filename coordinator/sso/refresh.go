package sso

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"golang.org/x/oauth2"
)

// scopeOfflineAccess asks the IdP for a refresh token.
const scopeOfflineAccess = "offline_access"

// Refresh redeems token, a refresh token from a login (Result.RefreshToken)
// or an earlier Refresh, at the IdP's token endpoint. It returns the
// identity in the new ID token, verified (signature, issuer, audience,
// expiry) and checked against the email and domain rules, or a zero
// Identity when the IdP sent no new ID token; and the refresh token to use
// next time (the IdP may rotate it; otherwise it is token). That token is
// returned whenever the IdP answered, even with an error about the ID
// token, since the IdP may have used up the old one.
//
// A refusal by the IdP (see refused, or no token at all) fails with
// ErrRefreshRefused; a refusal of the coordinator's own client credentials
// with ErrClientRejected; an unreachable IdP or another token endpoint
// error with ErrProvider. After the last two the caller should try again
// later: no person is at fault.
func (rp *RP) Refresh(ctx context.Context, token Secret) (Identity, Secret, error) {
	if token == "" {
		return Identity{}, "", fmt.Errorf("%w: no refresh token", ErrRefreshRefused)
	}
	d, err := rp.discover(ctx)
	if err != nil {
		return Identity{}, "", err
	}
	tok, err := d.oauth.TokenSource(rp.ctx(ctx), &oauth2.Token{RefreshToken: string(token)}).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && clientRejected(re) {
			return Identity{}, "", fmt.Errorf("%w: refresh: %s", ErrClientRejected, describe(re))
		}
		if errors.As(err, &re) && refused(re) {
			return Identity{}, "", fmt.Errorf("%w: %s", ErrRefreshRefused, describe(re))
		}
		if errors.As(err, &re) {
			return Identity{}, "", fmt.Errorf("%w: refresh: %s", ErrProvider, describe(re))
		}
		return Identity{}, "", fmt.Errorf("%w: refresh: %w", ErrProvider, err)
	}
	next := Secret(tok.RefreshToken)
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, next, nil
	}
	idt, err := rp.verifyAnyNonce(ctx, d, raw)
	if err != nil {
		return Identity{}, next, err
	}
	if err := checkAccessToken(idt, tok); err != nil {
		return Identity{}, next, err
	}
	id, err := rp.identity(idt, false)
	if err != nil {
		return Identity{}, next, err
	}
	return id, next, nil
}

// refused tells whether the token endpoint's error refuses the person
// rather than saying that the coordinator or the IdP is at fault. RFC 6749
// says invalid_grant, but IdPs differ (Dex answers invalid_request for a
// revoked or unknown refresh token), so any 400 counts, and invalid_grant
// with any status; except invalid_client, our own credentials (see
// clientRejected). Failing closed is the point: a person the IdP will not
// vouch for again is cut.
func refused(re *oauth2.RetrieveError) bool {
	if clientRejected(re) {
		return false
	}
	return re.ErrorCode == "invalid_grant" || (re.Response != nil && re.Response.StatusCode == http.StatusBadRequest)
}
