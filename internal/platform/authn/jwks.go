package authn

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// JWKSMaxAge is how long a verifier may cache the key set: long enough that a
// busy verifier fetches it rarely, short enough that a key added to
// AUTH_SIGNING_KEY reaches every verifier soon. Add a new key second (only
// verifying) and wait this long before making it first (signing).
const JWKSMaxAge = 5 * time.Minute

// jwk is one public key of a JWK Set, in the form RFC 8037 gives an Ed25519
// key, with what a verifier should use it for.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

// JWKS returns k as a JSON Web Key Set (RFC 7517): one key per key of k, the
// signing key first, each {"kty":"OKP","crv":"Ed25519","x":…,"kid":…,
// "use":"sig","alg":"EdDSA"} (RFC 8037), x being the raw 32-byte public key
// in unpadded base64url. It holds public keys only, so it may be published:
// with it a verifier in any language checks our access tokens with a standard
// JOSE library, picking the key the token's kid names. Each call returns a
// new slice.
func (k *Keys) JWKS() []byte {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(k.kids))}
	for _, kid := range k.kids {
		set.Keys = append(set.Keys, jwk{
			Kty: "OKP",
			Crv: "Ed25519",
			X:   base64.RawURLEncoding.EncodeToString(k.verifiers[kid]),
			Kid: kid,
			Use: "sig",
			Alg: "EdDSA",
		})
	}
	b, err := json.Marshal(set)
	if err != nil {
		// Strings only: json.Marshal cannot fail on them.
		panic(fmt.Sprintf("authn: encoding JWKS: %v", err))
	}
	return append(b, '\n')
}

// JWKSHandler returns the handler of GET /.well-known/jwks.json, the
// well-known place (RFC 8615) where JOSE libraries and OpenID Connect
// discovery look: k's [Keys.JWKS], rendered once, as
// application/jwk-set+json, with Cache-Control "public, max-age=300"
// ([JWKSMaxAge]). It needs no credentials and reveals nothing secret, so it
// is mounted as a public route.
func JWKSHandler(k *Keys) http.Handler {
	body := k.JWKS()
	cacheControl := "public, max-age=" + strconv.Itoa(int(JWKSMaxAge/time.Second))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/jwk-set+json")
		h.Set("Cache-Control", cacheControl)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
}
