package authn_test

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/authn"
)

// t0 is a fixed clock, so every expiry in these tests is exact.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// seed returns a fixed, distinct test seed for each b, base64-encoded, so
// fuzz corpora and expected values stay valid across runs.
func seed(b byte) string {
	return base64.StdEncoding.EncodeToString(seedBytes(b))
}

func seedBytes(b byte) []byte {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = b + byte(i)
	}
	return s
}

func mustKeys(tb testing.TB, spec string) *authn.Keys {
	tb.Helper()
	k, err := authn.ParseKeys(spec)
	if err != nil {
		tb.Fatalf("ParseKeys: %v", err)
	}
	return k
}

func mustIssue(tb testing.TB, k *authn.Keys, user, session string, ttl time.Duration, now time.Time) string {
	tb.Helper()
	tok, _, err := k.Issue(user, session, ttl, now)
	if err != nil {
		tb.Fatalf("Issue: %v", err)
	}
	return tok
}

// kidOf computes a kid independently of the package, to pin its definition.
func kidOf(b byte) string {
	pub := ed25519.NewKeyFromSeed(seedBytes(b)).Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

func b64(v any) string {
	j, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(j)
}

// validClaims returns claims that Verify accepts at t0.
func validClaims() map[string]any {
	return map[string]any{
		"iss": "rightsize",
		"aud": []string{"rightsize"},
		"sub": "user-1",
		"sid": "sess-1",
		"iat": t0.Unix(),
		"exp": t0.Add(15 * time.Minute).Unix(),
	}
}

// handToken builds a token without the package or the jwt library, so the
// tests can make tokens that neither would: alg none, HMAC, odd claims.
// sign receives the signing input and returns the raw signature.
func handToken(header, claims map[string]any, sign func(input string) []byte) string {
	input := b64(header) + "." + b64(claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign(input))
}

func edSigner(b byte) func(string) []byte {
	priv := ed25519.NewKeyFromSeed(seedBytes(b))
	return func(input string) []byte { return ed25519.Sign(priv, []byte(input)) }
}

func hmacSigner(secret []byte) func(string) []byte {
	return func(input string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(input))
		return m.Sum(nil)
	}
}

func edHeader(b byte) map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": kidOf(b)}
}

func with(m map[string]any, k string, v any) map[string]any {
	m[k] = v
	return m
}

func without(m map[string]any, k string) map[string]any {
	delete(m, k)
	return m
}

func segments(tb testing.TB, tok string) []string {
	tb.Helper()
	p := strings.Split(tok, ".")
	if len(p) != 3 {
		tb.Fatalf("token has %d segments, want 3", len(p))
	}
	return p
}

func decodeSeg(tb testing.TB, seg string, v any) {
	tb.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		tb.Fatalf("decode segment: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("unmarshal segment: %v", err)
	}
}
