package authn_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/rightsize/rightsize/internal/platform/authn"
)

// The set holds every key, the signer first, each exactly the members RFC
// 8037 gives a public Ed25519 key (no "d": nothing private), and x is the
// public key of its seed.
func TestJWKS(t *testing.T) {
	t.Parallel()
	k := mustKeys(t, seed(3)+","+seed(1)+","+seed(2))
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	dec := json.NewDecoder(bytes.NewReader(k.JWKS()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&set); err != nil {
		t.Fatalf("JWKS is not a JWK Set of string members: %v", err)
	}
	seeds := []byte{3, 1, 2}
	if len(set.Keys) != len(seeds) {
		t.Fatalf("got %d keys, want %d", len(set.Keys), len(seeds))
	}
	for i, b := range seeds {
		pub := ed25519.NewKeyFromSeed(seedBytes(b)).Public().(ed25519.PublicKey)
		want := map[string]string{
			"kty": "OKP",
			"crv": "Ed25519",
			"x":   base64.RawURLEncoding.EncodeToString(pub),
			"kid": kidOf(b),
			"use": "sig",
			"alg": "EdDSA",
		}
		if got := set.Keys[i]; !maps.Equal(got, want) {
			t.Errorf("key %d: got %v, want %v", i, got, want)
		}
	}
	if kids := k.KeyIDs(); !slices.Equal(kids, []string{kidOf(3), kidOf(1), kidOf(2)}) {
		t.Errorf("KeyIDs: got %v, want the JWKS order", kids)
	}
}

func TestJWKSHandler(t *testing.T) {
	t.Parallel()
	k := mustKeys(t, seed(1)+","+seed(2))
	h := authn.JWKSHandler(k)
	for range 2 { // rendered once, served as often as asked
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("status: got %d, want 200", rec.Code)
		}
		for name, want := range map[string]string{
			"Content-Type":  "application/jwk-set+json",
			"Cache-Control": "public, max-age=300",
		} {
			if got := rec.Header().Get(name); got != want {
				t.Errorf("%s: got %q, want %q", name, got, want)
			}
		}
		if got, want := rec.Body.Bytes(), k.JWKS(); !bytes.Equal(got, want) {
			t.Errorf("body: got %s, want %s", got, want)
		}
	}
}
