package auth_test

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/auth"
	"github.com/rightsize/rightsize/internal/platform/config"
	"github.com/rightsize/rightsize/internal/platform/ratelimit"
)

func getenv(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

// varErrors unpacks the error config.Load returns, failing if any part of
// it is not a *config.VarError.
func varErrors(tb testing.TB, err error) []*config.VarError {
	tb.Helper()
	errs, ok := config.VarErrors(err)
	if !ok {
		tb.Fatalf("error %q has a part that is not a *config.VarError", err)
	}
	return errs
}

func varNames(errs []*config.VarError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Name)
	}
	return out
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	var got auth.Config
	if _, err := config.Load(getenv(nil), &got); err != nil {
		t.Fatalf("Load(empty environment) error: %v", err)
	}
	want := auth.Config{
		AccessTokenTTL:   15 * time.Minute,
		RefreshTokenTTL:  30 * 24 * time.Hour,
		RateLimitAuth:    ratelimit.Rate{Events: 10, Per: time.Minute},
		RateLimitAccount: ratelimit.Rate{Events: 5, Per: time.Minute},
		PasswordHash:     auth.DefaultPasswordParams,
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestConfigGoodValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  map[string]string
		got  func(auth.Config) any
		want any
	}{
		{map[string]string{"ACCESS_TOKEN_TTL": "1m"}, func(c auth.Config) any { return c.AccessTokenTTL }, time.Minute},
		// The largest access TTL is still below the default refresh TTL.
		{map[string]string{"ACCESS_TOKEN_TTL": "24h"}, func(c auth.Config) any { return c.AccessTokenTTL }, 24 * time.Hour},
		{map[string]string{"REFRESH_TOKEN_TTL": "1h"}, func(c auth.Config) any { return c.RefreshTokenTTL }, time.Hour},
		{map[string]string{"REFRESH_TOKEN_TTL": "8760h"}, func(c auth.Config) any { return c.RefreshTokenTTL }, 365 * 24 * time.Hour},
		{
			map[string]string{"ACCESS_TOKEN_TTL": "2h", "REFRESH_TOKEN_TTL": "2h1s"},
			func(c auth.Config) any { return []time.Duration{c.AccessTokenTTL, c.RefreshTokenTTL} },
			[]time.Duration{2 * time.Hour, 2*time.Hour + time.Second},
		},
		{map[string]string{"RATE_LIMIT_AUTH": "20/h"}, func(c auth.Config) any { return c.RateLimitAuth }, ratelimit.Rate{Events: 20, Per: time.Hour}},
		{map[string]string{"RATE_LIMIT_AUTH": "1000/day"}, func(c auth.Config) any { return c.RateLimitAuth }, ratelimit.Rate{Events: 1000, Per: 24 * time.Hour}},
		{map[string]string{"RATE_LIMIT_ACCOUNT": "3/30s"}, func(c auth.Config) any { return c.RateLimitAccount }, ratelimit.Rate{Events: 3, Per: 30 * time.Second}},
		{map[string]string{"RATE_LIMIT_ACCOUNT": "2/min"}, func(c auth.Config) any { return c.RateLimitAccount }, ratelimit.Rate{Events: 2, Per: time.Minute}},
		// Outside production cheap hashes are allowed: tests use them.
		{map[string]string{"PASSWORD_HASH": "m=64,t=1,p=1"}, func(c auth.Config) any { return c.PasswordHash.Memory*100 + c.PasswordHash.Time }, uint32(6401)},
		{map[string]string{"PASSWORD_HASH": "m=47104,t=1,p=1"}, func(c auth.Config) any {
			return []uint32{c.PasswordHash.Memory, c.PasswordHash.Time, uint32(c.PasswordHash.Threads)}
		}, []uint32{47104, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.env), func(t *testing.T) {
			t.Parallel()
			var c auth.Config
			if _, err := config.Load(getenv(tt.env), &c); err != nil {
				t.Fatalf("Load error: %v", err)
			}
			if got := tt.got(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestConfigBadValues(t *testing.T) {
	t.Parallel()
	const wantRate = "want a rate EVENTS/PERIOD such as 10/min or 100/h (PERIOD: s, min, h, day or a duration such as 30s)"
	tests := []struct {
		name, value string
		also        map[string]string // other variables that make the value wrong
		want        string            // the whole error message, if given
	}{
		{"ACCESS_TOKEN_TTL", "59s", nil, `ACCESS_TOKEN_TTL: invalid value "59s": want a duration from 1m to 24h, such as 15m`},
		{"ACCESS_TOKEN_TTL", "24h1s", nil, `ACCESS_TOKEN_TTL: invalid value "24h1s": want a duration from 1m to 24h, such as 15m`},
		{"ACCESS_TOKEN_TTL", "15", nil, ""},
		{"ACCESS_TOKEN_TTL", "-15m", nil, ""},
		// A bad ACCESS_TOKEN_TTL is not compared: REFRESH_TOKEN_TTL is not blamed.
		{"ACCESS_TOKEN_TTL", "25h", map[string]string{"REFRESH_TOKEN_TTL": "2h"}, `ACCESS_TOKEN_TTL: invalid value "25h": want a duration from 1m to 24h, such as 15m`},
		{"REFRESH_TOKEN_TTL", "59m", nil, `REFRESH_TOKEN_TTL: invalid value "59m": want a duration of at least 1h, such as 720h`},
		{"REFRESH_TOKEN_TTL", "30d", nil, ""},
		{"REFRESH_TOKEN_TTL", "-720h", nil, ""},
		// REFRESH_TOKEN_TTL must exceed ACCESS_TOKEN_TTL, and is the one blamed.
		{"REFRESH_TOKEN_TTL", "2h", map[string]string{"ACCESS_TOKEN_TTL": "3h"}, `REFRESH_TOKEN_TTL: invalid value "2h": want a duration of at least 1h, greater than ACCESS_TOKEN_TTL (3h0m0s)`},
		{"REFRESH_TOKEN_TTL", "24h", map[string]string{"ACCESS_TOKEN_TTL": "24h"}, `REFRESH_TOKEN_TTL: invalid value "24h": want a duration of at least 1h, greater than ACCESS_TOKEN_TTL (24h0m0s)`},
		{"RATE_LIMIT_AUTH", "10", nil, `RATE_LIMIT_AUTH: invalid value "10": ` + wantRate},
		{"RATE_LIMIT_AUTH", "0/min", nil, ""},
		{"RATE_LIMIT_AUTH", "-1/min", nil, ""},
		{"RATE_LIMIT_AUTH", "10/fortnight", nil, ""},
		{"RATE_LIMIT_AUTH", "10/0s", nil, ""},
		{"RATE_LIMIT_AUTH", "2/1ns", nil, ""}, // more than one event per nanosecond
		{"RATE_LIMIT_AUTH", "1.5/s", nil, ""},
		{"RATE_LIMIT_ACCOUNT", "five/min", nil, `RATE_LIMIT_ACCOUNT: invalid value "five/min": ` + wantRate},
		{"RATE_LIMIT_ACCOUNT", "5/-1m", nil, ""},
		{"RATE_LIMIT_ACCOUNT", "5 per minute", nil, ""},
		{"PASSWORD_HASH", "19456", nil, `PASSWORD_HASH: invalid value "19456": want argon2id costs as m=KiB,t=passes,p=1, such as m=19456,t=2,p=1`},
		{"PASSWORD_HASH", "m=19456,t=2,p=2", nil, ""}, // the hashing slots count one core a hash
		{"PASSWORD_HASH", "t=2,m=19456,p=1", nil, ""},
		{"PASSWORD_HASH", "m=1048576,t=1,p=1", nil, ""}, // 1 GiB per login
		{"PASSWORD_HASH", "m=19456,t=100,p=1", nil, ""},
		{"PASSWORD_HASH", "m=19456,t=2,p=0", nil, ""},
	}
	tested := make(map[string]bool)
	for _, tt := range tests {
		tested[tt.name] = true
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{tt.name: tt.value}
			for k, v := range tt.also {
				vars[k] = v
			}
			var c auth.Config
			_, err := config.Load(getenv(vars), &c)
			errs := varErrors(t, err)
			if len(errs) != 1 || errs[0].Name != tt.name {
				t.Fatalf("got errors for %v (%v), want one for %s", varNames(errs), err, tt.name)
			}
			msg := err.Error()
			if tt.want != "" && msg != tt.want {
				t.Errorf("got  %s\nwant %s", msg, tt.want)
			}
			if !strings.HasPrefix(msg, tt.name+": ") || !strings.Contains(msg, ": want ") {
				t.Errorf("got %q, want it to start with %q and say what it wants", msg, tt.name+": ")
			}
		})
	}
	for _, v := range (&auth.Config{}).Vars() {
		if !tested[v.Name] {
			t.Errorf("no bad value tested for %s", v.Name)
		}
	}
}

// Every bad variable is reported, the platform's and auth's, in table
// order whatever the order they were given in.
func TestConfigReportsEveryBadVariable(t *testing.T) {
	t.Parallel()
	var c auth.Config
	_, err := config.Load(getenv(map[string]string{
		"RATE_LIMIT_ACCOUNT": "lots",
		"PORT":               "http",
		"ACCESS_TOKEN_TTL":   "1s",
		"REFRESH_TOKEN_TTL":  "2h", // not compared: ACCESS_TOKEN_TTL is bad
	}), &c)
	got := varNames(varErrors(t, err))
	want := []string{"PORT", "ACCESS_TOKEN_TTL", "RATE_LIMIT_ACCOUNT"}
	if !slices.Equal(got, want) {
		t.Errorf("got errors for %v, want %v\n%v", got, want, err)
	}
}

// In production a PASSWORD_HASH cheaper than OWASP's minimum is refused,
// with the other production requirements met; OWASP's own are accepted.
func TestConfigPasswordHashInProduction(t *testing.T) {
	t.Parallel()
	production := map[string]string{
		"ENV":              "production",
		"DATABASE_URL":     "postgres://db.internal/rightsize",
		"PUBLIC_URL":       "https://api.example.com",
		"AUTH_SIGNING_KEY": "ed25519:" + strings.Repeat("q", 43),
		"CURSOR_SECRET":    "Zx8fK2pQ7vL1mN4rT9wY3bH6jC0sD5gA",
		"SMTP_URL":         "smtps://user:pass@smtp.example.com:465",
	}
	for _, tt := range []struct {
		value   string
		refused bool
	}{
		{"", false}, {"m=19456,t=2,p=1", false}, {"m=47104,t=1,p=1", false}, {"m=7168,t=5,p=1", false},
		{"m=64,t=1,p=1", true}, {"m=19456,t=1,p=1", true}, {"m=7168,t=4,p=1", true}, {"m=35840,t=1,p=1", true}, {"m=17920,t=2,p=1", true},
	} {
		vars := maps.Clone(production)
		if tt.value != "" {
			vars["PASSWORD_HASH"] = tt.value
		}
		var c auth.Config
		_, err := config.Load(getenv(vars), &c)
		var names []string
		if err != nil {
			names = varNames(varErrors(t, err))
		}
		if !tt.refused && err != nil {
			t.Errorf("PASSWORD_HASH=%q in production: %v, want no error", tt.value, err)
		}
		if got := slices.Contains(names, "PASSWORD_HASH"); got != tt.refused {
			t.Errorf("PASSWORD_HASH=%q in production: refused %v (errors %v), want %v", tt.value, got, err, tt.refused)
		}
		if tt.refused && err != nil && !strings.Contains(err.Error(), "OWASP") {
			t.Errorf("PASSWORD_HASH=%q: %v; want it to name OWASP's minimum", tt.value, err)
		}
	}
}
