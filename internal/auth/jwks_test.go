package auth_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/rightsize/rightsize/internal/platform/authn"
)

// A service elsewhere, knowing nothing of ours but the published key set and
// using another JOSE implementation (go-jose, where we sign with golang-jwt),
// verifies the access tokens a login issues and those of a key still in
// rotation, and refuses altered ones and those of keys not in the set.
func TestJWKSVerifiesIssuedTokens(t *testing.T) {
	t.Parallel()
	signing, retiring, foreign := newSeed(t), newSeed(t), newSeed(t)
	b := setup(t, map[string]string{"AUTH_SIGNING_KEY": signing + "," + retiring})
	const email, pw = "jwks@example.com", "a long enough passphrase"
	userID := b.addUser(t, email, pw, true)
	access, _ := b.login(t, email, pw)

	set := fetchJWKS(t, b.URL)
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS: got %d keys, want 2: the signing key and the retiring one", len(set.Keys))
	}
	for _, k := range set.Keys {
		if _, ok := k.Key.(ed25519.PublicKey); !ok || !k.Valid() || !k.IsPublic() || k.Algorithm != "EdDSA" || k.Use != "sig" || k.KeyID == "" {
			t.Errorf("JWKS key %q: got a %T (alg %q, use %q), want a valid public Ed25519 key for EdDSA signatures", k.KeyID, k.Key, k.Algorithm, k.Use)
		}
	}

	claims, err := verifyWith(set, access, time.Now())
	if err != nil {
		t.Fatalf("access token from login: got %v, want it verified by the JWKS", err)
	}
	if claims.Subject != userID || claims.SessionID == "" {
		t.Errorf("claims: got sub %q sid %q, want sub %q and a session", claims.Subject, claims.SessionID, userID)
	}

	oldToken := issueWith(t, retiring, userID)
	if _, err := verifyWith(set, oldToken, time.Now()); err != nil {
		t.Errorf("token of the retiring key: got %v, want it verified by the JWKS", err)
	}

	seg := strings.Split(access, ".")
	forged, _ := json.Marshal(map[string]any{"iss": "rightsize", "aud": []string{"rightsize"}, "sub": "usr_someone_else",
		"sid": claims.SessionID, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	refused := map[string]string{
		"claims swapped":    seg[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + seg[2],
		"not in the set":    issueWith(t, foreign, userID),
		"signature altered": seg[0] + "." + seg[1] + "." + flipChar(seg[2], 10),
	}
	for name, tok := range refused {
		if _, err := verifyWith(set, tok, time.Now()); err == nil {
			t.Errorf("%s: got verified, want refused", name)
		}
	}
	// And our own verifier agrees.
	for name, tok := range refused {
		if r := b.Call(t, "GET", "/v1/me", tok, nil); r.Status != http.StatusUnauthorized {
			t.Errorf("%s on GET /v1/me: got %d, want 401", name, r.Status)
		}
	}
}

// flipChar returns s with the character at i replaced by another of the
// base64url alphabet.
func flipChar(s string, i int) string {
	c := "A"
	if s[i] == 'A' {
		c = "B"
	}
	return s[:i] + c + s[i+1:]
}

func newSeed(tb testing.TB) string {
	tb.Helper()
	s, err := authn.GenerateSeed()
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func issueWith(tb testing.TB, seed, userID string) string {
	tb.Helper()
	k, err := authn.ParseKeys(seed)
	if err != nil {
		tb.Fatal(err)
	}
	tok, _, err := k.Issue(userID, "ses_jwks", time.Minute, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// fetchJWKS gets the key set as any client would: without credentials.
func fetchJWKS(tb testing.TB, baseURL string) jose.JSONWebKeySet {
	tb.Helper()
	res, err := http.Get(baseURL + "/.well-known/jwks.json")
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		tb.Fatalf("GET /.well-known/jwks.json: got %d %s, want 200", res.StatusCode, body)
	}
	for name, want := range map[string]string{"Content-Type": "application/jwk-set+json", "Cache-Control": "public, max-age=300"} {
		if got := res.Header.Get(name); got != want {
			tb.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	if strings.Contains(string(body), `"d"`) {
		tb.Errorf("JWKS: got %s, want no private key member", body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		tb.Fatalf("JWKS: %v\n%s", err, body)
	}
	return set
}

type accessClaims struct {
	jwt.Claims
	SessionID string `json:"sid"`
}

// verifyWith checks token as a verifier elsewhere would: only EdDSA, the key
// its kid names in set, then iss, aud and the times, with no leeway.
func verifyWith(set jose.JSONWebKeySet, token string, now time.Time) (accessClaims, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return accessClaims{}, err
	}
	var c accessClaims
	if err := tok.Claims(set, &c); err != nil {
		return accessClaims{}, err
	}
	if c.IssuedAt == nil || c.Expiry == nil {
		return accessClaims{}, errors.New("iat or exp missing")
	}
	err = c.ValidateWithLeeway(jwt.Expected{Issuer: "rightsize", AnyAudience: jwt.Audience{"rightsize"}, Time: now}, 0)
	return c, err
}
