package authn

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rightsize/rightsize/internal/platform/apperr"
)

const (
	// issuer and audience are checked even though only we sign with these
	// keys, so that a token minted for something else with a shared key
	// (a future service, a test harness) is not accepted as an access token.
	issuer   = "rightsize"
	audience = "rightsize"

	// clockSkew tolerates clocks of different instances disagreeing by a
	// little; it is kept small because it extends every token's life.
	clockSkew = 5 * time.Second

	// maxTokenLen bounds the work an attacker can make us do per request;
	// our tokens are about 300 bytes.
	maxTokenLen = 4096
)

// Claims is what a verified access token says.
type Claims struct {
	UserID    string    // the sub claim
	SessionID string    // the sid claim: the refresh-token family
	IssuedAt  time.Time // the iat claim, in UTC
	ExpiresAt time.Time // the exp claim, in UTC
}

// tokenClaims is the wire form. It stays small because it travels on every
// request: anything else about the user is looked up by whoever needs it.
type tokenClaims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
}

// Validate adds to jwt's checks the claims it cannot be told to require.
func (c *tokenClaims) Validate() error {
	if c.Subject == "" || c.SessionID == "" || c.IssuedAt == nil {
		return jwt.ErrTokenRequiredClaimMissing
	}
	return nil
}

// Issue returns a signed access token for userID in session sessionID, valid
// from now for ttl, and when it expires. Times in the token have one-second
// precision; expires is the exact value written into it.
//
// It returns an error (a programming error, not a client one) if userID or
// sessionID is empty or ttl is under a second.
func (k *Keys) Issue(userID, sessionID string, ttl time.Duration, now time.Time) (token string, expires time.Time, err error) {
	switch {
	case userID == "":
		return "", time.Time{}, errors.New("authn: issue token: empty user ID")
	case sessionID == "":
		return "", time.Time{}, errors.New("authn: issue token: empty session ID")
	case ttl < time.Second:
		return "", time.Time{}, fmt.Errorf("authn: issue token: ttl %v is under a second", ttl)
	}
	iat := now.Truncate(time.Second)
	expires = iat.Add(ttl).Truncate(time.Second)
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, &tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   userID,
			Audience:  jwt.ClaimStrings{audience},
			IssuedAt:  jwt.NewNumericDate(iat),
			ExpiresAt: jwt.NewNumericDate(expires),
		},
		SessionID: sessionID,
	})
	t.Header["kid"] = k.signerKID
	token, err = t.SignedString(k.signer)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("authn: issue token: %w", err)
	}
	return token, expires, nil
}

// Verify checks token's signature against the key its kid names, and its
// claims as of now, and returns them.
//
// Every failure is an *apperr.Error of kind apperr.ErrUnauthenticated. Its
// message, which the client reads, is "token expired" once exp (plus a few
// seconds for clock skew) has passed, "token not yet valid" for a token from
// the future, and "invalid token" for everything else: malformed, an
// algorithm other than EdDSA (including "none"), a kid not in k, a bad
// signature, a wrong iss or aud, a missing exp, iat, sub or sid. Its cause,
// jwt's precise reason, is for the log.
func (k *Keys) Verify(token string, now time.Time) (Claims, error) {
	c, _, err := k.verify(token, now)
	return c, err
}

// window is when a verified token's time claims hold: from its iat or its
// nbf, whichever is later, less clockSkew, until its exp plus clockSkew.
// These are exactly the bounds Verify checks, so that the [Authenticator]'s
// cache can apply them again to a cached token and reach the same verdict.
type window struct {
	from, until time.Time
}

// contains reports whether Verify would accept the token's times at now:
// jwt accepts iat and nbf at their bound and exp only before it.
func (w window) contains(now time.Time) bool {
	return !now.Before(w.from) && now.Before(w.until)
}

// verify is Verify that also returns the window in which the token's time
// claims hold.
func (k *Keys) verify(token string, now time.Time) (Claims, window, error) {
	if len(token) > maxTokenLen {
		return Claims{}, window{}, apperr.New(apperr.ErrUnauthenticated, "invalid token")
	}
	var c tokenClaims
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithStrictDecoding(), // one encoding per token: no malleable variants
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithLeeway(clockSkew),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	_, err := p.ParseWithClaims(token, &c, k.keyFor)
	// jwt checks claims only once the signature holds, so the more precise
	// messages are only ever given about tokens we issued. jwt's own reason
	// (never the token itself) stays in the chain for the log.
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, window{}, apperr.Wrap(err, apperr.ErrUnauthenticated, "token expired")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued), errors.Is(err, jwt.ErrTokenNotValidYet):
		return Claims{}, window{}, apperr.Wrap(err, apperr.ErrUnauthenticated, "token not yet valid")
	default:
		return Claims{}, window{}, apperr.Wrap(err, apperr.ErrUnauthenticated, "invalid token")
	}
	// We never issue nbf, but a token that carried one was checked against
	// it above, so the window must hold it too.
	from := c.IssuedAt.Time
	if c.NotBefore != nil && c.NotBefore.After(from) {
		from = c.NotBefore.Time
	}
	w := window{from: from.Add(-clockSkew), until: c.ExpiresAt.Add(clockSkew)}
	return Claims{
		UserID:    c.Subject,
		SessionID: c.SessionID,
		IssuedAt:  c.IssuedAt.UTC(),
		ExpiresAt: c.ExpiresAt.UTC(),
	}, w, nil
}

// keyFor picks the one key the token's kid names. Returning a single
// ed25519.PublicKey (never a byte slice) also means that, should an HMAC
// algorithm ever get past WithValidMethods, there is no secret for it to use.
func (k *Keys) keyFor(t *jwt.Token) (any, error) {
	if _, ok := t.Method.(*jwt.SigningMethodEd25519); !ok {
		return nil, errors.New("unexpected signing method")
	}
	kid, _ := t.Header["kid"].(string)
	pub, ok := k.verifiers[kid]
	if !ok {
		return nil, errors.New("unknown key ID")
	}
	return pub, nil
}
