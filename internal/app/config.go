package app

import (
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
}

// Vars lists app's variables, bound to s's fields.
func (s *settings) Vars() []config.Var {
	return []config.Var{
		{
			Name: "AUTH_SIGNING_KEY", Default: "",
			Want:        wantKeys,
			Description: "Keys that sign access tokens, as comma-separated base64 32-byte Ed25519 seeds: the first signs, the others only verify, so a key can be rotated without logging everyone out. Required in production. In development an unset key is created once in DATA_DIR/" + authn.DevKeyFile + " and reused.",
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
	}
}

// Check requires a signing key in production: the development key lives in
// DATA_DIR, which several instances do not share and a container loses.
func (s *settings) Check(k *config.Checks) {
	if k.Production() && !k.Given("AUTH_SIGNING_KEY") {
		k.Fail("AUTH_SIGNING_KEY", wantKeys+" (required when ENV=production)")
	}
}
