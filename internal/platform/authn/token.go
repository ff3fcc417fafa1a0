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

// unauthenticated is an apperr.ErrUnauthenticated whose message is only the
// short text shown to the client, as the 401's detail.
type unauthenticated struct {
	msg string
	// missing is true when no credential was presented at all, which RFC 6750
	// answers with a bare challenge rather than error="invalid_token".
	missing bool
}

func (e *unauthenticated) Error() string { return e.msg }
func (e *unauthenticated) Unwrap() error { return apperr.ErrUnauthenticated }

var (
	errInvalidToken  = &unauthenticated{msg: "invalid token"}
	errTokenExpired  = &unauthenticated{msg: "token expired"}
	errTokenNotValid = &unauthenticated{msg: "token not yet valid"}
)

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
// Every failure wraps apperr.ErrUnauthenticated and has a message safe to show
// the client: "token expired" once exp (plus a few seconds for clock skew) has
// passed, "token not yet valid" for a token from the future, and "invalid
// token" for everything else: malformed, an algorithm other than EdDSA
// (including "none"), a kid not in k, a bad signature, a wrong iss or aud, a
// missing exp, iat, sub or sid.
func (k *Keys) Verify(token string, now time.Time) (Claims, error) {
	if len(token) > maxTokenLen {
		return Claims{}, errInvalidToken
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
	// messages are only ever given about tokens we issued.
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, errTokenExpired
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued), errors.Is(err, jwt.ErrTokenNotValidYet):
		return Claims{}, errTokenNotValid
	default:
		return Claims{}, errInvalidToken
	}
	return Claims{
		UserID:    c.Subject,
		SessionID: c.SessionID,
		IssuedAt:  c.IssuedAt.UTC(),
		ExpiresAt: c.ExpiresAt.UTC(),
	}, nil
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
