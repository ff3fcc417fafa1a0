// Package authn establishes who a request comes from, locally, in any service:
// it issues and verifies access tokens, carries the resulting [Principal] in
// the request context, and provides [Require], the one middleware every
// service mounts in front of its authenticated routes.
//
// Access tokens are short-lived JWTs signed with Ed25519 (alg "EdDSA") whose
// header names the signing key (kid), so any instance holding the public keys
// verifies them without a network call. The key set ([Keys]) comes from
// AUTH_SIGNING_KEY: the first key signs, the others only verify, which is how
// a key is rotated without logging everybody out:
//
//  1. AUTH_SIGNING_KEY=old          (today)
//  2. AUTH_SIGNING_KEY=old,new      (every verifier learns new: instances as they
//     restart, others from the JWKS within [JWKSMaxAge])
//  3. AUTH_SIGNING_KEY=new,old      (new tokens use new; old ones still verify)
//  4. AUTH_SIGNING_KEY=new          (once the longest access-token TTL has passed)
//
// [JWKSHandler] publishes the public keys as a JWK Set, so that services
// outside this program verify the tokens too, with any JOSE library.
//
// API keys are looked up by the application (the auth service owns their
// table) through an [APIKeyLookup]; this package only recognises them by
// their [APIKeyPrefix] and routes them there.
package authn

import (
	"context"

	"github.com/rightsize/rightsize/internal/platform/apperr"
)

// Principal is who a request is authenticated as.
type Principal struct {
	// UserID is the authenticated user; never empty in a Principal produced
	// by this package.
	UserID string
	// SessionID is the session (refresh-token family) the access token was
	// issued for; empty when authenticated by API key.
	SessionID string
	// APIKeyID is the API key the request authenticated with; empty when
	// authenticated by access token.
	APIKeyID string
	// Scope is what an API key may do: ScopeRead or ScopeFull. Empty (a
	// login's access token) means ScopeFull.
	Scope string
}

// The scopes of a credential.
const (
	// ScopeRead allows only the safe methods: GET, HEAD and OPTIONS.
	ScopeRead = "read"
	// ScopeFull allows everything the user may do, bar what needs a login.
	ScopeFull = "full"
)

// Allows reports whether p's scope allows a request with method.
func (p Principal) Allows(method string) bool {
	if p.Scope != ScopeRead {
		return true
	}
	switch method {
	case "GET", "HEAD", "OPTIONS":
		return true
	}
	return false
}

type principalKey struct{}

// WithPrincipal returns a copy of ctx carrying p, for [PrincipalFrom] to find.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal stored by [WithPrincipal] (as [Require]
// does), and false if there is none: the request was not authenticated.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Caller returns the principal of an authenticated request, for a handler
// behind [Require]; without one (a route mounted outside the guard, a bug)
// it returns apperr.ErrUnauthenticated, which answers 401 rather than
// serving an anonymous caller.
func Caller(ctx context.Context) (Principal, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return Principal{}, apperr.ErrUnauthenticated
	}
	return p, nil
}
