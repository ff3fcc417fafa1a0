package authn_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/authn"
)

func TestIssueVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	k := mustKeys(t, seed(1))
	now := t0.Add(700 * time.Millisecond) // sub-second part must not leak into exp
	tok, exp, err := k.Issue("user-1", "sess-1", 15*time.Minute, now)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if want := t0.Add(15 * time.Minute); !exp.Equal(want) {
		t.Errorf("expires: got %v, want %v", exp, want)
	}

	c, err := k.Verify(tok, now)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := authn.Claims{UserID: "user-1", SessionID: "sess-1", IssuedAt: t0, ExpiresAt: exp}
	if c.UserID != want.UserID || c.SessionID != want.SessionID ||
		!c.IssuedAt.Equal(want.IssuedAt) || !c.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("claims: got %+v, want %+v", c, want)
	}

	var header map[string]any
	decodeSeg(t, segments(t, tok)[0], &header)
	if got, want := header["kid"], kidOf(1); got != want {
		t.Errorf("header kid: got %v, want %v", got, want)
	}
	if got, want := header["alg"], "EdDSA"; got != want {
		t.Errorf("header alg: got %v, want %v", got, want)
	}
	var claims map[string]any
	decodeSeg(t, segments(t, tok)[1], &claims)
	for _, name := range []string{"iss", "aud", "sub", "sid", "iat", "exp"} {
		if _, ok := claims[name]; !ok {
			t.Errorf("claim %q: missing from %v", name, claims)
		}
	}
}

func TestIssueRejectsBadArguments(t *testing.T) {
	t.Parallel()
	k := mustKeys(t, seed(1))
	tests := []struct {
		name, user, session string
		ttl                 time.Duration
	}{
		{"no user", "", "s", time.Minute},
		{"no session", "u", "", time.Minute},
		{"zero ttl", "u", "s", 0},
		{"sub-second ttl", "u", "s", 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tok, _, err := k.Issue(tt.user, tt.session, tt.ttl, t0); err == nil {
				t.Errorf("Issue: got token %q, want an error", tok)
			}
		})
	}
}

func TestVerifyExpiryBoundaries(t *testing.T) {
	t.Parallel()
	k := mustKeys(t, seed(1))
	tok := mustIssue(t, k, "user-1", "sess-1", 15*time.Minute, t0)
	exp := t0.Add(15 * time.Minute)
	tests := []struct {
		name    string
		now     time.Time
		wantErr string // "" for success
	}{
		{"at issue", t0, ""},
		{"just before expiry", exp.Add(-time.Second), ""},
		{"within clock skew after expiry", exp.Add(4 * time.Second), ""},
		{"past clock skew", exp.Add(6 * time.Second), "token expired"},
		{"long expired", exp.Add(24 * time.Hour), "token expired"},
		{"within clock skew before issue", t0.Add(-4 * time.Second), ""},
		{"issued in the future", t0.Add(-time.Minute), "token not yet valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := k.Verify(tok, tt.now)
			checkVerifyErr(t, err, tt.wantErr)
		})
	}
}

func checkVerifyErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Errorf("Verify: got error %v, want success", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("Verify: got success, want error %q", want)
	}
	if !errors.Is(err, apperr.ErrUnauthenticated) {
		t.Errorf("Verify: got error %v, want one wrapping apperr.ErrUnauthenticated", err)
	}
	if got := apperr.Message(err); got != want {
		t.Errorf("Verify error message: got %q, want %q", got, want)
	}
	// The log reads the whole text: the client's message, then jwt's reason.
	if got := err.Error(); !strings.HasPrefix(got, want) {
		t.Errorf("Verify error text: got %q, want it to start with %q", got, want)
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	k := mustKeys(t, seed(1))
	valid := mustIssue(t, k, "user-1", "sess-1", 15*time.Minute, t0)
	parts := strings.Split(valid, ".")
	pub := ed25519.NewKeyFromSeed(seedBytes(1)).Public().(ed25519.PublicKey)

	tamperedPayload := func() string {
		var c map[string]any
		decodeSeg(t, parts[1], &c)
		c["sub"] = "admin"
		return parts[0] + "." + b64(c) + "." + parts[2]
	}
	tamperedSignature := func() string {
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[10] ^= 0x01
		return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	// 64 bytes take 86 base64 characters with 4 bits to spare; setting them
	// decodes to the same signature under a lax decoder.
	nonCanonicalSignature := func() string {
		s := []byte(parts[2])
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		last := strings.IndexByte(alphabet, s[len(s)-1])
		s[len(s)-1] = alphabet[last|0x0f]
		if string(s) == parts[2] {
			s[len(s)-1] = alphabet[last&^0x0f]
		}
		lax, _ := base64.RawURLEncoding.DecodeString(string(s))
		orig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		if string(lax) != string(orig) {
			t.Fatalf("test setup: non-canonical signature decodes to different bytes")
		}
		return parts[0] + "." + parts[1] + "." + string(s)
	}

	tests := []struct {
		name  string
		token string
	}{
		{"tampered payload", tamperedPayload()},
		{"tampered signature", tamperedSignature()},
		{"non-canonical signature encoding", nonCanonicalSignature()},
		{"signature removed", parts[0] + "." + parts[1] + "."},
		{"signed by a key not in the set", mustIssue(t, mustKeys(t, seed(2)), "user-1", "sess-1", time.Hour, t0)},
		{"alg none", handToken(
			map[string]any{"alg": "none", "typ": "JWT", "kid": kidOf(1)}, validClaims(),
			func(string) []byte { return nil })},
		{"alg none without kid", handToken(
			map[string]any{"alg": "none", "typ": "JWT"}, validClaims(),
			func(string) []byte { return nil })},
		{"HS256 keyed with the public key", handToken(
			map[string]any{"alg": "HS256", "typ": "JWT", "kid": kidOf(1)}, validClaims(),
			hmacSigner(pub))},
		{"HS256 keyed with the public key as base64", handToken(
			map[string]any{"alg": "HS256", "typ": "JWT", "kid": kidOf(1)}, validClaims(),
			hmacSigner([]byte(base64.StdEncoding.EncodeToString(pub))))},
		{"unknown kid", handToken(with(edHeader(1), "kid", "AAAAAAAAAAA"), validClaims(), edSigner(1))},
		{"no kid", handToken(without(edHeader(1), "kid"), validClaims(), edSigner(1))},
		{"kid of a verify key, signed by another", handToken(edHeader(1), validClaims(), edSigner(2))},
		{"wrong iss", handToken(edHeader(1), with(validClaims(), "iss", "evil"), edSigner(1))},
		{"no iss", handToken(edHeader(1), without(validClaims(), "iss"), edSigner(1))},
		{"wrong aud", handToken(edHeader(1), with(validClaims(), "aud", []string{"billing"}), edSigner(1))},
		{"no aud", handToken(edHeader(1), without(validClaims(), "aud"), edSigner(1))},
		{"no exp", handToken(edHeader(1), without(validClaims(), "exp"), edSigner(1))},
		{"no iat", handToken(edHeader(1), without(validClaims(), "iat"), edSigner(1))},
		{"no sub", handToken(edHeader(1), without(validClaims(), "sub"), edSigner(1))},
		{"empty sub", handToken(edHeader(1), with(validClaims(), "sub", ""), edSigner(1))},
		{"no sid", handToken(edHeader(1), without(validClaims(), "sid"), edSigner(1))},
		{"sub of the wrong type", handToken(edHeader(1), with(validClaims(), "sub", 42), edSigner(1))},
		{"empty string", ""},
		{"one segment", "abc"},
		{"two segments", "abc.def"},
		{"four segments", valid + ".x"},
		{"dots only", ".."},
		{"not base64", "!!!.@@@.###"},
		{"padded segments", parts[0] + "==." + parts[1] + "." + parts[2]},
		{"header not JSON", base64.RawURLEncoding.EncodeToString([]byte("nope")) + "." + parts[1] + "." + parts[2]},
		{"surrounding space", " " + valid},
		{"huge", strings.Repeat("a", 1<<20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := k.Verify(tt.token, t0)
			if err == nil {
				t.Fatalf("Verify: got claims %+v, want an error", c)
			}
			checkVerifyErr(t, err, "invalid token")
		})
	}
}

// TestVerifyHandBuiltValid guards the tests above: a hand-built token that
// differs from a rejected one only in the field under test must pass, or the
// rejections prove nothing.
func TestVerifyHandBuiltValid(t *testing.T) {
	t.Parallel()
	k := mustKeys(t, seed(1))
	c, err := k.Verify(handToken(edHeader(1), validClaims(), edSigner(1)), t0)
	if err != nil {
		t.Fatalf("Verify: got error %v, want success", err)
	}
	if c.UserID != "user-1" || c.SessionID != "sess-1" {
		t.Errorf("claims: got %+v, want user-1 in sess-1", c)
	}
	// aud as a plain string is equally valid JWT.
	if _, err := k.Verify(handToken(edHeader(1), with(validClaims(), "aud", "rightsize"), edSigner(1)), t0); err != nil {
		t.Errorf("Verify with string aud: got error %v, want success", err)
	}
}

func TestVerifyDuringRotation(t *testing.T) {
	t.Parallel()
	before := mustKeys(t, seed(1))             // only the old key
	during := mustKeys(t, seed(2)+","+seed(1)) // new signs, old verifies
	after := mustKeys(t, seed(2))              // old key retired

	oldTok := mustIssue(t, before, "user-1", "sess-1", 15*time.Minute, t0)
	newTok := mustIssue(t, during, "user-1", "sess-1", 15*time.Minute, t0)

	var header map[string]any
	decodeSeg(t, segments(t, newTok)[0], &header)
	if got, want := header["kid"], kidOf(2); got != want {
		t.Errorf("kid of a token issued during rotation: got %v, want %v (the first key's)", got, want)
	}

	tests := []struct {
		name    string
		keys    *authn.Keys
		token   string
		wantErr string
	}{
		{"old token, old key still in the set", during, oldTok, ""},
		{"new token, during rotation", during, newTok, ""},
		{"new token, after rotation", after, newTok, ""},
		{"old token, old key removed", after, oldTok, "invalid token"},
		{"new token, before the new key is known", before, newTok, "invalid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.keys.Verify(tt.token, t0)
			checkVerifyErr(t, err, tt.wantErr)
		})
	}
}

// FuzzVerify checks that no input makes Verify panic, that every rejection
// is an ErrUnauthenticated, and that nothing verifies but the one token Issue
// produced: the fuzzer must not find a second encoding of it, or a forgery.
func FuzzVerify(f *testing.F) {
	k := mustKeys(f, seed(1))
	valid := mustIssue(f, k, "user-1", "sess-1", 15*time.Minute, t0)
	parts := strings.Split(valid, ".")
	f.Add(valid)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(handToken(map[string]any{"alg": "none", "kid": kidOf(1)}, validClaims(), func(string) []byte { return nil }))
	f.Add(handToken(edHeader(1), validClaims(), edSigner(2)))
	f.Add("")
	f.Add("..")
	f.Add("eyJhbGciOiJFZERTQSJ9.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		_, err := k.Verify(token, t0)
		switch {
		case err == nil && token != valid:
			t.Fatalf("Verify(%q): got success, want only the issued token to verify", token)
		case err != nil && !errors.Is(err, apperr.ErrUnauthenticated):
			t.Fatalf("Verify(%q): got error %v, want one wrapping apperr.ErrUnauthenticated", token, err)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	k := mustKeys(b, seed(2)+","+seed(1))
	tok := mustIssue(b, k, "01J9Z3K8Q4W5E6R7T8Y9U0I1O2", "01J9Z3K8Q4W5E6R7T8Y9U0I1O3", 15*time.Minute, t0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Verify(tok, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssue(b *testing.B) {
	k := mustKeys(b, seed(1))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := k.Issue("01J9Z3K8Q4W5E6R7T8Y9U0I1O2", "01J9Z3K8Q4W5E6R7T8Y9U0I1O3", 15*time.Minute, t0); err != nil {
			b.Fatal(err)
		}
	}
}
