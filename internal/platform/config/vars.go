package config

import (
	"log/slog"
	"math"
	"net"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/ratelimit"
)

// Var documents one environment variable that Load reads. The same table
// drives parsing, so the documented default is the default Load applies.
type Var struct {
	Name string
	// Default is the value Load uses when the variable is unset or empty. An
	// empty Default means the field stays unset; Description says what that
	// means.
	Default string
	// Want describes an acceptable value; an error about a bad value ends
	// with it. Checks that span two variables say more.
	Want        string
	Description string
	// Secret variables never have their value shown in errors, and are
	// masked when the configuration is logged.
	Secret bool

	// set parses a non-empty value into c, reporting false if the value is
	// not acceptable.
	set func(c *Config, value string) bool
}

// Vars returns every environment variable Load reads, in the order Load
// reports errors about them.
func Vars() []Var {
	out := make([]Var, len(vars))
	copy(out, vars)
	return out
}

const (
	envDevelopment = "development"
	envProduction  = "production"
)

// minSecretLen is the shortest CURSOR_SECRET accepted: an HMAC-SHA256 key
// shorter than the hash output weakens it.
const minSecretLen = 32

var vars = []Var{
	{
		Name: "ENV", Default: envDevelopment,
		Want:        `"development" or "production"`,
		Description: "Deployment mode. production turns on the strict checks: a missing or placeholder secret, or a PUBLIC_URL that is not https, stops the program.",
		set: func(c *Config, s string) bool {
			if s != envDevelopment && s != envProduction {
				return false
			}
			c.Env = s
			return true
		},
	},
	{
		Name: "PORT", Default: "8080",
		Want:        "an integer from 1 to 65535",
		Description: "TCP port the HTTP server listens on, on all interfaces. Cloud Run and most platforms set it.",
		set: func(c *Config, s string) bool {
			n, err := strconv.ParseUint(s, 10, 16)
			if err != nil || n == 0 {
				return false
			}
			c.Port = int(n)
			return true
		},
	},
	{
		Name: "DATA_DIR", Default: "./data",
		Want:        "a directory path (created if missing; an existing non-directory is refused)",
		Description: "Directory for local state, including the default SQLite database. Put it on a persistent disk in production.",
		set: func(c *Config, s string) bool {
			if fi, err := os.Stat(s); strings.ContainsRune(s, 0) || (err == nil && !fi.IsDir()) {
				return false
			}
			c.DataDir = s
			return true
		},
	},
	{
		Name: "DATABASE_URL", Default: "",
		Want:        "a URL such as postgres://user:pass@host/db, postgresql://…, sqlite:PATH or sqlite://PATH (a file path without ?query)",
		Description: "Database to use. Empty means SQLite at DATA_DIR/rightsize.db. A PostgreSQL URL goes to the driver as is; sqlite:PATH names the SQLite file. Its password is masked in logs.",
		Secret:      true,
		set:         setDatabaseURL,
	},
	{
		Name: "LOG_LEVEL", Default: "info",
		Want:        "debug, info, warn or error",
		Description: "Lowest level of log line written (case-insensitive).",
		set: func(c *Config, s string) bool {
			switch asciiLower(s) {
			case "debug":
				c.LogLevel = slog.LevelDebug
			case "info":
				c.LogLevel = slog.LevelInfo
			case "warn":
				c.LogLevel = slog.LevelWarn
			case "error":
				c.LogLevel = slog.LevelError
			default:
				return false
			}
			return true
		},
	},
	{
		Name: "REQUEST_TIMEOUT", Default: "10s",
		Want:        "a duration greater than zero, such as 10s",
		Description: "Deadline for handling one HTTP request.",
		set:         duration(func(c *Config) *time.Duration { return &c.RequestTimeout }, positive),
	},
	{
		Name: "SHUTDOWN_TIMEOUT", Default: "15s",
		Want:        "a duration greater than zero, such as 15s",
		Description: "Time allowed for a graceful shutdown (in-flight requests and running jobs) before the process gives up.",
		set:         duration(func(c *Config) *time.Duration { return &c.ShutdownTimeout }, positive),
	},
	{
		Name: "SHUTDOWN_DELAY", Default: "0s",
		Want:        "a duration of zero or more, such as 5s",
		Description: "Time /ready answers 503 before the listener closes, so the load balancer stops routing first. Must be less than SHUTDOWN_TIMEOUT.",
		set:         duration(func(c *Config) *time.Duration { return &c.ShutdownDelay }, nonNegative),
	},
	{
		Name: "DB_QUERY_TIMEOUT", Default: "10s",
		Want:        "a duration greater than zero, such as 10s",
		Description: "Deadline for every database query.",
		set:         duration(func(c *Config) *time.Duration { return &c.QueryTimeout }, positive),
	},
	{
		Name: "SLOW_QUERY_MS", Default: "100",
		Want:        "an integer number of milliseconds, 0 or more",
		Description: "Queries slower than this are logged at WARN; 0 logs every query.",
		set: func(c *Config, s string) bool {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 || n > math.MaxInt64/int64(time.Millisecond) {
				return false
			}
			c.SlowQuery = time.Duration(n) * time.Millisecond
			return true
		},
	},
	{
		Name: "METRICS_ADDR", Default: "127.0.0.1:9090",
		Want:        "host:port with a numeric port, such as 127.0.0.1:9090 or :9090",
		Description: "Address of the internal listener serving Prometheus metrics. Keep it off the public interface.",
		set: func(c *Config, s string) bool {
			_, port, err := net.SplitHostPort(s)
			if err != nil {
				return false
			}
			if _, err := strconv.ParseUint(port, 10, 16); err != nil {
				return false
			}
			c.MetricsAddr = s
			return true
		},
	},
	{
		Name: "AUTO_MIGRATE", Default: "true",
		Want:        "true or false",
		Description: "Apply database migrations at start-up.",
		set:         boolean(func(c *Config) *bool { return &c.AutoMigrate }),
	},
	{
		Name: "DB_MAX_OPEN_CONNS", Default: "10",
		Want:        "an integer of 1 or more",
		Description: "Most database connections open at once.",
		set:         integer(func(c *Config) *int { return &c.DBMaxOpenConns }, 1, math.MaxInt),
	},
	{
		Name: "DB_MAX_IDLE_CONNS", Default: "5",
		Want:        "an integer from 0 to DB_MAX_OPEN_CONNS",
		Description: "Most idle database connections kept. When unset it is lowered to DB_MAX_OPEN_CONNS if that is smaller.",
		set:         integer(func(c *Config) *int { return &c.DBMaxIdleConns }, 0, math.MaxInt),
	},
	{
		Name: "DB_CONN_MAX_LIFETIME", Default: "30m",
		Want:        "a duration of zero or more, such as 30m",
		Description: "Longest a database connection is reused; 0 reuses connections forever.",
		set:         duration(func(c *Config) *time.Duration { return &c.DBConnMaxLifetime }, nonNegative),
	},
	{
		Name: "SERVICES", Default: "",
		Want:        "distinct service names separated by commas, such as auth,billing, each matching [a-z][a-z0-9_-]*",
		Description: "Services this process serves. Empty means all of them. The --services flag overrides it.",
		set:         setServices,
	},
	{
		Name: "WORKER", Default: "true",
		Want:        "true or false",
		Description: "Run the job worker inside `serve`. The --worker flag overrides it.",
		set:         boolean(func(c *Config) *bool { return &c.Worker }),
	},
	{
		Name: "WORKER_CONCURRENCY", Default: "10",
		Want:        "an integer from 1 to 1000",
		Description: "Most jobs the worker runs at once.",
		set:         integer(func(c *Config) *int { return &c.WorkerConcurrency }, 1, 1000),
	},
	{
		Name: "SMTP_URL", Default: "",
		Want:        "an smtp:// or smtps:// URL with a host, such as smtps://user:pass@smtp.example.com:465",
		Description: "Mail server. Empty means the console mailer, which logs each message instead of sending it; required in production, where those messages carry sign-in links. Its password is masked in logs.",
		Secret:      true,
		set: func(c *Config, s string) bool {
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
				return false
			}
			c.SMTPURL = s
			return true
		},
	},
	{
		Name: "MAIL_FROM", Default: "rightsize <noreply@localhost>",
		Want:        "an email address such as Example <noreply@example.com>",
		Description: "Sender of the email the program sends.",
		set: func(c *Config, s string) bool {
			if _, err := mail.ParseAddress(s); err != nil {
				return false
			}
			c.MailFrom = s
			return true
		},
	},
	{
		Name: "OUTBOUND_TIMEOUT", Default: "5s",
		Want:        "a duration greater than zero, such as 5s",
		Description: "Deadline for each call to an external service (Stripe, SMTP, …).",
		set:         duration(func(c *Config) *time.Duration { return &c.OutboundTimeout }, positive),
	},
	{
		Name: "MAX_BODY_BYTES", Default: "1048576",
		Want:        "an integer number of bytes, 1 or more",
		Description: "Largest request body accepted; a larger one gets 413.",
		set: func(c *Config, s string) bool {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 1 {
				return false
			}
			c.MaxBodyBytes = n
			return true
		},
	},
	{
		Name: "CURSOR_SECRET", Default: "",
		Want:        "a random key of at least 32 bytes",
		Description: "HMAC key that signs pagination cursors. Required in production. In development an unset key is generated at start, so cursors do not survive a restart or work across instances.",
		Secret:      true,
		set: func(c *Config, s string) bool {
			if len(s) < minSecretLen {
				return false
			}
			c.CursorSecret = []byte(s)
			return true
		},
	},
	{
		Name: "PUBLIC_URL", Default: "http://localhost:8080",
		Want:        "an absolute http:// or https:// URL with a host and no query, fragment or user, such as https://app.example.com",
		Description: "Base URL where users reach the product; links in emails start with it. A trailing / is dropped. Must be https in production.",
		set:         setPublicURL,
	},
	{
		Name: "AUTH_SIGNING_KEY", Default: "",
		Want:        "distinct base64 Ed25519 seeds of 32 bytes each, separated by commas, such as `openssl rand -base64 32` prints",
		Description: "Keys that sign access tokens, as comma-separated base64 32-byte Ed25519 seeds: the first signs, the others only verify, so a key can be rotated without logging everyone out. Required in production. In development an unset key is created once in DATA_DIR/" + authn.DevKeyFile + " and reused.",
		Secret:      true,
		set: func(c *Config, s string) bool {
			// ParseKeys is the one definition of a valid key set; the app
			// parses again to use it, but a bad key must stop Load, with
			// the variable named, like every other bad value.
			if _, err := authn.ParseKeys(s); err != nil {
				return false
			}
			c.AuthSigningKey = s
			return true
		},
	},
	{
		Name: "ACCESS_TOKEN_TTL", Default: "15m",
		Want:        "a duration from 1m to 24h, such as 15m",
		Description: "Lifetime of an access token. Access tokens are checked without a database lookup, so a revoked session keeps access until its token expires.",
		set:         durationBetween(func(c *Config) *time.Duration { return &c.AccessTokenTTL }, time.Minute, 24*time.Hour),
	},
	{
		Name: "REFRESH_TOKEN_TTL", Default: "720h",
		Want:        "a duration of at least 1h, such as 720h",
		Description: "Lifetime of a refresh token (720h is 30 days). Must be greater than ACCESS_TOKEN_TTL.",
		set:         durationBetween(func(c *Config) *time.Duration { return &c.RefreshTokenTTL }, time.Hour, math.MaxInt64),
	},
	{
		Name: "TRUSTED_PROXY_COUNT", Default: "0",
		Want:        "an integer from 0 to 10",
		Description: "How many proxies in front of the service append to X-Forwarded-For; the client IP, used for rate limits, is that many entries from its right. 0 ignores the header and uses the TCP peer address. Behind Cloud Run or an ALB alone: 1.",
		set:         integer(func(c *Config) *int { return &c.TrustedProxyCount }, 0, 10),
	},
	{
		Name: "RATE_LIMIT_AUTH", Default: "10/min",
		Want:        wantRate,
		Description: "Requests allowed per client IP on signup, login, token refresh, email verification and password reset, as EVENTS/PERIOD; bursts of up to EVENTS.",
		set:         rate(func(c *Config) *ratelimit.Rate { return &c.RateLimitAuth }),
	},
	{
		Name: "RATE_LIMIT_ACCOUNT", Default: "5/min",
		Want:        wantRate,
		Description: "Attempts allowed per email address (per account) on signup, login and password reset, as EVENTS/PERIOD, whatever IP they come from.",
		set:         rate(func(c *Config) *ratelimit.Rate { return &c.RateLimitAccount }),
	},
	{
		Name: "RATE_LIMIT_API", Default: "600/min",
		Want:        wantRate,
		Description: "Requests allowed per authenticated principal (user or API key) on every authenticated route, as EVENTS/PERIOD.",
		set:         rate(func(c *Config) *ratelimit.Rate { return &c.RateLimitAPI }),
	},
	{
		Name: "TLS_CERT_FILE", Default: "",
		Want:        "a certificate file path",
		Description: "PEM certificate for serving HTTPS directly. Set with TLS_KEY_FILE, or leave both empty when the platform terminates TLS.",
		set:         func(c *Config, s string) bool { c.TLSCertFile = s; return true },
	},
	{
		Name: "TLS_KEY_FILE", Default: "",
		Want:        "a private key file path",
		Description: "PEM private key matching TLS_CERT_FILE.",
		set:         func(c *Config, s string) bool { c.TLSKeyFile = s; return true },
	},
}

type sign int

const (
	positive sign = iota
	nonNegative
)

func duration(field func(*Config) *time.Duration, want sign) func(*Config, string) bool {
	return func(c *Config, s string) bool {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || (want == positive && d == 0) {
			return false
		}
		*field(c) = d
		return true
	}
}

// durationBetween accepts a duration from lo to hi inclusive.
func durationBetween(field func(*Config) *time.Duration, lo, hi time.Duration) func(*Config, string) bool {
	return func(c *Config, s string) bool {
		d, err := time.ParseDuration(s)
		if err != nil || d < lo || d > hi {
			return false
		}
		*field(c) = d
		return true
	}
}

func integer(field func(*Config) *int, lo, hi int) func(*Config, string) bool {
	return func(c *Config, s string) bool {
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			return false
		}
		*field(c) = n
		return true
	}
}

func boolean(field func(*Config) *bool) func(*Config, string) bool {
	return func(c *Config, s string) bool {
		b, err := strconv.ParseBool(s)
		*field(c) = b
		return err == nil
	}
}

// wantRate describes what ratelimit.ParseRate accepts.
const wantRate = "a rate EVENTS/PERIOD such as 10/min or 100/h (PERIOD: s, min, h, day or a duration such as 30s)"

func rate(field func(*Config) *ratelimit.Rate) func(*Config, string) bool {
	return func(c *Config, s string) bool {
		r, err := ratelimit.ParseRate(s)
		if err != nil {
			return false
		}
		*field(c) = r
		return true
	}
}

// setPublicURL keeps the URL as given, less any trailing slashes, so that
// callers build links as PublicURL + "/path".
func setPublicURL(c *Config, s string) bool {
	// url.Parse leaves a bare "?" or "#" with nothing after it invisible in
	// the result, and accepts spaces in the path, which would break links.
	if strings.ContainsAny(s, "?# ") {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
		return false
	}
	c.PublicURL = strings.TrimRight(s, "/")
	return true
}

func setDatabaseURL(c *Config, s string) bool {
	lower := asciiLower(s)
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		if _, err := url.Parse(s); err != nil {
			return false
		}
		c.DatabaseURL, c.DBDialect, c.DBDSN = s, DialectPostgres, s
		return true
	case strings.HasPrefix(lower, "sqlite:"):
		path := s[len("sqlite:"):]
		if strings.HasPrefix(lower, "sqlite://") {
			path = s[len("sqlite://"):]
		}
		// The database package owns the SQLite DSN and its pragmas, so a
		// query string here would only end up in the file name.
		if path == "" || strings.Contains(path, "?") {
			return false
		}
		c.DatabaseURL, c.DBDialect, c.DBDSN = s, DialectSQLite, path
		return true
	}
	return false
}

func setServices(c *Config, s string) bool {
	var names []string
	for part := range strings.SplitSeq(s, ",") {
		name := asciiLower(strings.TrimSpace(part))
		if !validServiceName(name) || slices.Contains(names, name) {
			return false
		}
		names = append(names, name)
	}
	c.Services = names
	return true
}

// asciiLower lowercases only A-Z: strings.ToLower maps some non-ASCII runes
// (the Kelvin sign) to ASCII letters and can change byte offsets.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// validServiceName reports whether name matches [a-z][a-z0-9_-]*.
func validServiceName(name string) bool {
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
