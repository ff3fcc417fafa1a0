package auth

import (
	"fmt"
	"math"
	"time"

	"github.com/rightsize/rightsize/internal/platform/config"
	"github.com/rightsize/rightsize/internal/platform/ratelimit"
)

// Config is the auth service's settings.
type Config struct {
	AccessTokenTTL   time.Duration  // ACCESS_TOKEN_TTL, from 1m to 24h
	RefreshTokenTTL  time.Duration  // REFRESH_TOKEN_TTL, always greater than AccessTokenTTL
	RateLimitAuth    ratelimit.Rate // RATE_LIMIT_AUTH, per client IP
	RateLimitAccount ratelimit.Rate // RATE_LIMIT_ACCOUNT, per email address
	PasswordHash     PasswordParams // PASSWORD_HASH, the argon2id costs of new hashes
}

// Vars lists the auth service's variables, bound to c's fields.
func (c *Config) Vars() []config.Var {
	return []config.Var{
		{
			Name: "ACCESS_TOKEN_TTL", Default: "15m",
			Want:        "a duration from 1m to 24h, such as 15m",
			Description: "Lifetime of an access token. Access tokens are checked without a database lookup, so a revoked session keeps access until its token expires.",
			Parse:       config.Duration(&c.AccessTokenTTL, time.Minute, 24*time.Hour),
		},
		{
			Name: "REFRESH_TOKEN_TTL", Default: "720h",
			Want:        "a duration of at least 1h, such as 720h",
			Description: "Lifetime of a refresh token (720h is 30 days). Must be greater than ACCESS_TOKEN_TTL.",
			Parse:       config.Duration(&c.RefreshTokenTTL, time.Hour, math.MaxInt64),
		},
		{
			Name: "RATE_LIMIT_AUTH", Default: "10/min",
			Want:        ratelimit.RateSyntax,
			Description: "Requests allowed per client IP on signup, login, token refresh, email verification and password reset, as EVENTS/PERIOD; bursts of up to EVENTS.",
			Parse:       config.Func(&c.RateLimitAuth, ratelimit.ParseRate),
		},
		{
			Name: "RATE_LIMIT_ACCOUNT", Default: "5/min",
			Want:        ratelimit.RateSyntax,
			Description: "Per email address (per account), as EVENTS/PERIOD: signups and password resets whatever IP they come from, and failed logins per address and client IP (successes never count).",
			Parse:       config.Func(&c.RateLimitAccount, ratelimit.ParseRate),
		},
		{
			Name: "PASSWORD_HASH", Default: "m=19456,t=2,p=1",
			Want:        passwordHashWant,
			Description: "argon2id costs of new password hashes: memory in KiB, passes, and one lane. Each login holds the memory while it hashes. A login with a hash made with other costs rehashes it with these; until then, a failed login to such an account takes the old costs' time, unlike one to an unknown address, so after a change whether an account exists can be timed. In production at least one of OWASP's configurations: m=47104,t=1; m=19456,t=2; m=12288,t=3; m=9216,t=4; m=7168,t=5.",
			Parse:       config.Func(&c.PasswordHash, ParsePasswordParams),
		},
	}
}

const passwordHashWant = "argon2id costs as m=KiB,t=passes,p=1, such as m=19456,t=2,p=1"

// Check refuses, in production, a PASSWORD_HASH cheaper than OWASP's
// minimum (in development and tests cheap hashes keep logins fast), and
// TTLs that conflict. For those it blames REFRESH_TOKEN_TTL whichever was
// set: its default (720h) is above ACCESS_TOKEN_TTL's largest value (24h),
// so only setting it can make the two conflict.
func (c *Config) Check(k *config.Checks) {
	if k.Production() && k.Parsed("PASSWORD_HASH") && !c.PasswordHash.owaspMinimum() {
		k.Fail("PASSWORD_HASH", passwordHashWant+", in production at least OWASP's minimum: m=47104 for t=1, 19456 for t=2, 12288 for t=3, 9216 for t=4, 7168 for t=5 or more")
	}
	if k.Parsed("ACCESS_TOKEN_TTL", "REFRESH_TOKEN_TTL") && c.RefreshTokenTTL <= c.AccessTokenTTL {
		k.Fail("REFRESH_TOKEN_TTL", fmt.Sprintf("a duration of at least 1h, greater than ACCESS_TOKEN_TTL (%s)", c.AccessTokenTTL))
	}
}
