package authn

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/httpx"
)

// APIKeyPrefix starts every API key, so a credential is recognised as one
// without a lookup, and a leaked key is recognisable to secret scanners.
const APIKeyPrefix = "rsk_"

// APIKeyLookup resolves an API key to the principal it authenticates. secret
// is the whole credential as presented, prefix included. For a key that is
// unknown, revoked or expired it returns an error of kind
// apperr.ErrUnauthenticated, made with apperr.New or apperr.Wrap to give the
// client a message (otherwise the 401 reads "Unauthorized"); any other error
// (the database is down) is answered as that error's kind, never as a 401, so
// an outage does not look like bad credentials. On success the Principal must
// have UserID and APIKeyID set.
//
// The auth service implements it over its API-key table; other services are
// given it by the application.
type APIKeyLookup func(ctx context.Context, secret string) (Principal, error)

// Authenticator turns a request's credential into a [Principal]. It is safe
// for concurrent use.
//
// It remembers the access tokens it has verified, the most recently used
// 32,768 of them (10.5 MiB when full), so that a token presented again costs
// a hash and a map lookup, about a microsecond, instead of the tens of
// microseconds of an Ed25519 verification. A remembered token is accepted
// exactly when [Keys.Verify] would accept it: the same string, until the same
// exp. The keys are fixed for the Authenticator's life, so a key taken out of
// AUTH_SIGNING_KEY needs a restart, as it always did, and the restart forgets
// every token.
type Authenticator struct {
	keys   *Keys
	lookup APIKeyLookup
	now    func() time.Time
	cache  *tokenCache
}

// NewAuthenticator returns an Authenticator that verifies access tokens with
// keys and resolves API keys with lookup. A nil lookup makes every API key
// fail with apperr.ErrUnauthenticated, for a deployment that accepts none; a
// nil now means time.Now. It panics if keys is nil, since then nothing could
// ever be authenticated and that is a wiring mistake.
func NewAuthenticator(keys *Keys, lookup APIKeyLookup, now func() time.Time) *Authenticator {
	if keys == nil {
		panic("authn: NewAuthenticator with nil keys")
	}
	if now == nil {
		now = time.Now
	}
	return &Authenticator{keys: keys, lookup: lookup, now: now, cache: newTokenCache(tokenCacheSize)}
}

// errNoCredentials is a finer apperr.ErrUnauthenticated: no usable credential
// was presented at all, which RFC 6750 answers with a bare challenge rather
// than error="invalid_token".
var errNoCredentials = fmt.Errorf("no bearer credential: %w", apperr.ErrUnauthenticated)

// Authenticate's own errors; each message is the 401's detail.
var (
	errNoHeader     = apperr.New(errNoCredentials, "missing Authorization header")
	errManyHeaders  = apperr.New(errNoCredentials, "more than one Authorization header")
	errNotBearer    = apperr.New(errNoCredentials, "Authorization scheme must be Bearer")
	errNoCredential = apperr.New(errNoCredentials, `missing bearer credential after "Bearer"`)
	errAPIKeyRefuse = apperr.New(apperr.ErrUnauthenticated, "API keys are not accepted here")
)

// Authenticate returns the principal that r's Authorization: Bearer
// credential authenticates: an API key (one starting with [APIKeyPrefix]) via
// the lookup, anything else as an access token via [Keys.Verify] or, for a
// token verified before and not yet expired, from memory.
//
// It returns an *apperr.Error of kind apperr.ErrUnauthenticated, whose
// message is for the client, when the header is missing or repeated, the
// scheme is not Bearer, the credential is empty, or the credential does not
// verify. Errors from the lookup are returned as they are (see
// [APIKeyLookup]).
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	cred, err := bearer(r.Header)
	if err != nil {
		return Principal{}, err
	}
	if strings.HasPrefix(cred, APIKeyPrefix) {
		if a.lookup == nil {
			return Principal{}, errAPIKeyRefuse
		}
		p, err := a.lookup(r.Context(), cred)
		if err != nil {
			return Principal{}, err
		}
		if p.UserID == "" || p.APIKeyID == "" {
			// Not the client's fault, so not a 401: a 500 gets it fixed.
			return Principal{}, errors.New("authn: API key lookup returned a principal without user or key ID")
		}
		return p, nil
	}
	c, err := a.verify(cred, a.now())
	if err != nil {
		return Principal{}, err
	}
	return Principal{UserID: c.UserID, SessionID: c.SessionID}, nil
}

// verify is [Keys.Verify] behind the cache of tokens that verified.
func (a *Authenticator) verify(token string, now time.Time) (Claims, error) {
	if len(token) > maxTokenLen {
		// Refused by Verify before any work; hashing it first would be work.
		return a.keys.Verify(token, now)
	}
	key := sha256.Sum256([]byte(token))
	if c, ok := a.cache.get(key, now); ok {
		return c, nil
	}
	c, w, err := a.keys.verify(token, now)
	if err != nil {
		// Never cached, so that a token that failed once is checked every time.
		return Claims{}, err
	}
	a.cache.put(key, c, w)
	return c, nil
}

func bearer(h http.Header) (string, error) {
	values := h.Values("Authorization")
	switch len(values) {
	case 0:
		return "", errNoHeader
	case 1:
	default:
		// Two credentials leave it ambiguous which one a proxy or log
		// attributed the request to; refusing is simpler than choosing.
		return "", errManyHeaders
	}
	scheme, cred, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") { // schemes are case-insensitive (RFC 9110 §11.1)
		if scheme == "" {
			return "", errNoHeader
		}
		return "", errNotBearer
	}
	cred = strings.TrimSpace(cred)
	if cred == "" {
		return "", errNoCredential
	}
	return cred, nil
}

// Require returns the middleware that admits only authenticated requests.
//
// For a request that [Authenticator.Authenticate] accepts, it stores the
// principal in the context ([PrincipalFrom] finds it), records the user for
// the access log with httpx.SetUserID, and calls the next handler. Otherwise
// it answers through httpx.Error: 401 problem+json with a WWW-Authenticate
// Bearer challenge (carrying error="invalid_token" when a credential was
// presented but rejected, per RFC 6750), or the status of whatever other kind
// of error the API-key lookup returned.
func Require(a *Authenticator) httpx.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := a.Authenticate(r)
			if err != nil {
				if rejectedCredential(err) {
					w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				}
				httpx.Error(w, r, err)
				return
			}
			ctx := WithPrincipal(r.Context(), p)
			httpx.SetUserID(ctx, p.UserID)
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// rejectedCredential reports whether err says a credential was presented and
// refused, as opposed to absent (httpx.Error's bare challenge fits that) or
// not the client's fault at all.
func rejectedCredential(err error) bool {
	return errors.Is(err, apperr.ErrUnauthenticated) && !errors.Is(err, errNoCredentials)
}
