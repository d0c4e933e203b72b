package sso

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// redeem exchanges code for tokens with p's PKCE verifier, verifies the ID
// token against p's nonce, and applies the login rules. It returns the
// refresh token too, if the IdP issued one.
func (rp *RP) redeem(ctx context.Context, p Pending, code string) (Identity, Secret, error) {
	d, err := rp.discover(ctx)
	if err != nil {
		return Identity{}, "", err
	}
	tok, err := d.oauth.Exchange(rp.ctx(ctx), code, oauth2.VerifierOption(p.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && clientRejected(re) {
			return Identity{}, "", fmt.Errorf("%w: %s", ErrClientRejected, describe(re))
		}
		if errors.As(err, &re) {
			return Identity{}, "", fmt.Errorf("%w: %s", ErrCodeRejected, describe(re))
		}
		return Identity{}, "", fmt.Errorf("%w: redeem code: %w", ErrProvider, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, "", fmt.Errorf("%w: the token response has no id_token", ErrTokenInvalid)
	}
	idt, err := rp.verify(ctx, d, raw, p.Nonce)
	if err != nil {
		return Identity{}, "", err
	}
	if err := checkAccessToken(idt, tok); err != nil {
		return Identity{}, "", err
	}
	id, err := rp.identity(idt, true)
	if err != nil {
		return Identity{}, "", err
	}
	return id, Secret(tok.RefreshToken), nil
}

// checkAccessToken checks the ID token's at_hash, when it has one.
func checkAccessToken(idt *oidc.IDToken, tok *oauth2.Token) error {
	if idt.AccessTokenHash == "" {
		return nil
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		return fmt.Errorf("%w: at_hash: %w", ErrTokenInvalid, err)
	}
	return nil
}

// verify checks raw's signature (through the IdP's JWKS), issuer, audience
// (and azp when there are several), expiry, and nonce.
func (rp *RP) verify(ctx context.Context, d *discovered, raw, nonce string) (*oidc.IDToken, error) {
	if nonce == "" {
		return nil, fmt.Errorf("%w: nonce does not match the login", ErrTokenInvalid)
	}
	idt, err := rp.verifyAnyNonce(ctx, d, raw)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, fmt.Errorf("%w: nonce does not match the login", ErrTokenInvalid)
	}
	return idt, nil
}

// verifyAnyNonce is verify without the nonce check, for an ID token from a
// refresh, which carries no nonce or the login's.
func (rp *RP) verifyAnyNonce(ctx context.Context, d *discovered, raw string) (*oidc.IDToken, error) {
	idt, err := d.verifier.Verify(rp.ctx(ctx), raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	if len(idt.Audience) > 1 {
		var c struct {
			AZP string `json:"azp"`
		}
		if err := idt.Claims(&c); err != nil || c.AZP != rp.cfg.ClientID {
			return nil, fmt.Errorf("%w: several audiences %v and azp %q is not this client", ErrTokenInvalid, idt.Audience, c.AZP)
		}
	}
	if !slices.Contains(idt.Audience, rp.cfg.ClientID) {
		return nil, fmt.Errorf("%w: audience %v does not include this client", ErrTokenInvalid, idt.Audience)
	}
	return idt, nil
}

// clientRejected tells whether the token endpoint refused the client's own
// credentials (RFC 6749 §5.2: invalid_client, or a bare 401) rather than
// what it was asked to redeem.
func clientRejected(re *oauth2.RetrieveError) bool {
	return re.ErrorCode == "invalid_client" ||
		(re.ErrorCode == "" && re.Response != nil && re.Response.StatusCode == http.StatusUnauthorized)
}

// describe renders an IdP's token endpoint refusal without its raw body.
func describe(re *oauth2.RetrieveError) string {
	if re.ErrorCode == "" && re.Response != nil {
		return fmt.Sprintf("status %d", re.Response.StatusCode)
	}
	return fmt.Sprintf("%q: %q", clip(re.ErrorCode), clip(re.ErrorDescription))
}
