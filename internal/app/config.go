package app

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/config"
	"github.com/rightsize/rightsize/internal/platform/ratelimit"
)

// wantKeys describes an acceptable AUTH_SIGNING_KEY.
const wantKeys = "distinct base64 Ed25519 seeds of 32 bytes each, separated by commas, such as `openssl rand -base64 32` prints"

// settings are the variables of what app itself builds for every service:
// the access-token keys that every route verifies, and the per-principal
// limit every authenticated route runs behind.
type settings struct {
	// SigningKey is AUTH_SIGNING_KEY as given: empty (development only:
	// the key in DATA_DIR is used), or a key set authn.ParseKeys accepts.
	SigningKey   string
	RateLimitAPI ratelimit.Rate // RATE_LIMIT_API
	// RateLimitBadCredentials is RATE_LIMIT_BAD_CREDENTIALS: rejected
	// credentials allowed per client IP.
	RateLimitBadCredentials ratelimit.Rate
}

// Vars lists app's variables, bound to s's fields.
func (s *settings) Vars() []config.Var {
	return []config.Var{
		{
			Name: "AUTH_SIGNING_KEY", Default: "",
			Want:        wantKeys,
			Description: "Keys that sign access tokens, as comma-separated base64 32-byte Ed25519 seeds: the first signs, the others only verify, so a key can be rotated without logging everyone out. Required in production, where a seed that decodes to text or to a pattern (a repeat, a run, few distinct bytes) is refused. In development an unset key is created once in DATA_DIR/" + authn.DevKeyFile + " and reused.",
			Secret:      true,
			Parse: func(v string) bool {
				// ParseKeys is the one definition of a valid key set; it
				// runs again at start-up to use the keys, but a bad key must
				// stop Load, with the variable named, like any bad value.
				if _, err := authn.ParseKeys(v); err != nil {
					return false
				}
				s.SigningKey = v
				return true
			},
		},
		{
			Name: "RATE_LIMIT_API", Default: "600/min",
			Want:        ratelimit.RateSyntax,
			Description: "Requests allowed per authenticated principal (user or API key) on every authenticated route, as EVENTS/PERIOD.",
			Parse:       config.Func(&s.RateLimitAPI, ratelimit.ParseRate),
		},
		{
			Name: "RATE_LIMIT_BAD_CREDENTIALS", Default: "30/min",
			Want:        ratelimit.RateSyntax,
			Description: "Rejected credentials (a bad, expired or revoked access token or API key) allowed per client IP on the authenticated routes, as EVENTS/PERIOD. Past it, that IP's requests with an API key or a failing token get 429 before any lookup; an access token that verifies (checked locally) still gets through, so honest clients behind the same NAT keep working. Accepted credentials never count.",
			Parse:       config.Func(&s.RateLimitBadCredentials, ratelimit.ParseRate),
		},
	}
}

// Check requires a signing key in production, and a random one: the
// development key lives in DATA_DIR, which several instances do not share
// and a container loses, and a guessable seed lets anyone mint tokens.
func (s *settings) Check(k *config.Checks) {
	switch {
	case !k.Production():
	case !k.Given("AUTH_SIGNING_KEY"):
		k.Fail("AUTH_SIGNING_KEY", wantKeys+" (required when ENV=production)")
	case k.Parsed("AUTH_SIGNING_KEY"):
		for i, entry := range strings.Split(s.SigningKey, ",") {
			if weakSeed(decodeSeed(entry)) {
				k.Fail("AUTH_SIGNING_KEY", fmt.Sprintf("%s, random: key %d repeats, counts, uses too few distinct bytes or is text", wantKeys, i+1))
				return
			}
		}
	}
}

// minSeedBits is the least config.EntropyBits a production seed may score.
// 32 random bytes never scored under 136 in a million tries; a seed that
// repeats a 16-byte half scores at most 64.
const minSeedBits = 96

// weakSeed reports whether an Ed25519 seed looks made by a person rather
// than a random generator: low in entropy (config.EntropyBits), or text,
// such as the base64 of a typed phrase. 32 random bytes are all printable
// ASCII once in about 10^14.
func weakSeed(seed []byte) bool {
	if config.EntropyBits(seed) < minSeedBits {
		return true
	}
	for _, b := range seed {
		if b < 0x20 || b > 0x7e {
			return false
		}
	}
	return true
}

// decodeSeed decodes an entry of a key set that authn.ParseKeys accepted,
// in either base64 alphabet, padded or not.
func decodeSeed(entry string) []byte {
	raw := strings.TrimRight(strings.TrimSpace(entry), "=")
	b, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil {
		b, _ = base64.RawURLEncoding.DecodeString(raw)
	}
	return b
}
