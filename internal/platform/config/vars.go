package config

import (
	"log/slog"
	"math"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	envDevelopment = "development"
	envProduction  = "production"
)

// minSecretLen is the shortest CURSOR_SECRET accepted: an HMAC-SHA256 key
// shorter than the hash output weakens it.
const minSecretLen = 32

// Vars lists the platform's variables, bound to c's fields: the settings
// every process needs whichever services it runs.
func (c *Config) Vars() []Var {
	return []Var{
		{
			Name: "ENV", Default: envDevelopment,
			Want:        `"development" or "production"`,
			Description: "Deployment mode. production turns on the strict checks: a missing, placeholder or low-entropy secret, or a PUBLIC_URL that is not https, stops the program, and mail to a server other than localhost must go over TLS.",
			Parse: func(s string) bool {
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
			Parse: func(s string) bool {
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
			Parse: func(s string) bool {
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
			Show:        maskURL,
			Parse:       c.setDatabaseURL,
		},
		{
			Name: "LOG_LEVEL", Default: "info",
			Want:        "debug, info, warn or error",
			Description: "Lowest level of log line written (case-insensitive).",
			Parse: func(s string) bool {
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
			Name: "LOG_FORMAT", Default: "",
			Want:        "text or json",
			Description: "Log line format. Empty means text on a terminal in development, JSON otherwise (what log platforms parse).",
			Parse: func(s string) bool {
				switch f := asciiLower(s); f {
				case "text", "json":
					c.LogFormat = f
					return true
				}
				return false
			},
		},
		{
			Name: "REQUEST_TIMEOUT", Default: "10s",
			Want:        "a duration greater than zero, such as 10s",
			Description: "Deadline for handling one HTTP request.",
			Parse:       Duration(&c.RequestTimeout, time.Nanosecond, math.MaxInt64),
		},
		{
			Name: "SHUTDOWN_TIMEOUT", Default: "15s",
			Want:        "a duration greater than zero, such as 15s",
			Description: "Time allowed for a graceful shutdown (in-flight requests and running jobs) before the process gives up.",
			Parse:       Duration(&c.ShutdownTimeout, time.Nanosecond, math.MaxInt64),
		},
		{
			Name: "SHUTDOWN_DELAY", Default: "0s",
			Want:        "a duration of zero or more, such as 5s",
			Description: "Time /ready answers 503 before the listener closes, so the load balancer stops routing first. Must be less than SHUTDOWN_TIMEOUT.",
			Parse:       Duration(&c.ShutdownDelay, 0, math.MaxInt64),
		},
		{
			Name: "DB_QUERY_TIMEOUT", Default: "10s",
			Want:        "a duration greater than zero, such as 10s",
			Description: "Deadline for every database query.",
			Parse:       Duration(&c.QueryTimeout, time.Nanosecond, math.MaxInt64),
		},
		{
			Name: "SLOW_QUERY_MS", Default: "100",
			Want:        "an integer number of milliseconds, 0 or more",
			Description: "Queries slower than this are logged at WARN; 0 logs every query.",
			Parse: func(s string) bool {
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
			Parse: func(s string) bool {
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
			Parse:       Bool(&c.AutoMigrate),
		},
		{
			Name: "DB_MAX_OPEN_CONNS", Default: "10",
			Want:        "an integer of 1 or more",
			Description: "Most database connections open at once.",
			Parse:       Int(&c.DBMaxOpenConns, 1, math.MaxInt),
		},
		{
			Name: "DB_MAX_IDLE_CONNS", Default: "",
			Want:        "an integer from 0 to DB_MAX_OPEN_CONNS",
			Description: "Most idle database connections kept, on SQLite. Unset, it is DB_MAX_OPEN_CONNS: a smaller number closes and reopens connections on every burst above it. PostgreSQL's pool keeps up to DB_MAX_OPEN_CONNS idle and closes each after DB_CONN_MAX_IDLE_TIME.",
			Parse:       Int(&c.DBMaxIdleConns, 0, math.MaxInt),
		},
		{
			Name: "DB_CONN_MAX_IDLE_TIME", Default: "5m",
			Want:        "a duration of zero or more, such as 5m",
			Description: "Longest a database connection stays idle before it is closed; 0 keeps idle connections.",
			Parse:       Duration(&c.DBConnMaxIdleTime, 0, math.MaxInt64),
		},
		{
			Name: "DB_CONN_MAX_LIFETIME", Default: "30m",
			Want:        "a duration of zero or more, such as 30m",
			Description: "Longest a database connection is reused; 0 reuses connections forever.",
			Parse:       Duration(&c.DBConnMaxLifetime, 0, math.MaxInt64),
		},
		{
			Name: "SERVICES", Default: "",
			Want:        "distinct service names separated by commas, such as auth,billing, each matching [a-z][a-z0-9_-]*",
			Description: "Services this process serves. Empty means all of them. The --services flag overrides it.",
			Parse:       c.setServices,
		},
		{
			Name: "WORKER", Default: "true",
			Want:        "true or false",
			Description: "Run the job worker inside `serve`. The --worker flag overrides it.",
			Parse:       Bool(&c.Worker),
		},
		{
			Name: "WORKER_CONCURRENCY", Default: "10",
			Want:        "an integer from 1 to 1000",
			Description: "Most jobs the worker runs at once.",
			Parse:       Int(&c.WorkerConcurrency, 1, 1000),
		},
		{
			Name: "SMTP_URL", Default: "",
			Want:        "an smtp:// or smtps:// URL with a host, such as smtps://user:pass@smtp.example.com:465",
			Description: "Mail server. Empty means the console mailer, which logs each message instead of sending it; required in production, where those messages carry sign-in links. smtps:// is TLS from the first byte; smtp:// upgrades with STARTTLS when offered, and in production requires it unless the host is localhost or a loopback address. Its password is masked in logs.",
			Secret:      true,
			Show:        maskURL,
			Parse: func(s string) bool {
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
			Parse: func(s string) bool {
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
			Parse:       Duration(&c.OutboundTimeout, time.Nanosecond, math.MaxInt64),
		},
		{
			Name: "MAX_BODY_BYTES", Default: "1048576",
			Want:        "an integer number of bytes, 1 or more",
			Description: "Largest request body accepted; a larger one gets 413.",
			Parse: func(s string) bool {
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
			Description: "HMAC key that signs pagination cursors. Required in production, where a placeholder or a patterned key (a repeat, a run, few distinct characters) is refused. In development an unset key is generated at start, so cursors do not survive a restart or work across instances.",
			Secret:      true,
			Parse: func(s string) bool {
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
			Parse:       c.setPublicURL,
		},
		{
			Name: "CORS_ALLOWED_ORIGINS", Default: "",
			Want:        "distinct origins separated by commas, each scheme://host[:port] as a browser sends it, such as https://app.example.com or http://localhost:5173: http or https, no path (not even /), no wildcard",
			Description: "Web origins whose pages may call the API from a browser (CORS), compared exactly with the Origin header. Empty allows none; clients other than browsers are unaffected either way. * is refused.",
			Parse:       c.setCORSOrigins,
		},
		{
			Name: "TRUSTED_PROXY_COUNT", Default: "0",
			Want:        "an integer from 0 to 10",
			Description: "How many proxies in front of the service append to X-Forwarded-For; the client IP (rate limits, logs) is that many entries from its right. 0 ignores the header and uses the TCP peer address, unless TRUSTED_PROXY_CIDRS is set. Behind an AWS ALB, or on a Cloud Run service's own URL: 1; behind Google's external Application Load Balancer, which appends the client and itself: 2.",
			Parse:       Int(&c.TrustedProxyCount, 0, 10),
		},
		{
			Name: "TRUSTED_PROXY_CIDRS", Default: "",
			Want:        "IP prefixes or addresses separated by commas, such as 10.0.0.0/16,2001:db8::/32",
			Description: "Addresses of the proxies in front of the service. When set, X-Forwarded-For is read only from a TCP peer in them and walked from its right past every address in them: the first other address is the client, at most TRUSTED_PROXY_COUNT entries in (10 when that is 0). Empty: TRUSTED_PROXY_COUNT alone decides, believing the header from any peer.",
			Parse:       c.setTrustedProxyCIDRs,
		},
		{
			Name: "TLS_CERT_FILE", Default: "",
			Want:        "a certificate file path",
			Description: "PEM certificate for serving HTTPS directly. Set with TLS_KEY_FILE, or leave both empty when the platform terminates TLS.",
			Parse:       func(s string) bool { c.TLSCertFile = s; return true },
		},
		{
			Name: "TLS_KEY_FILE", Default: "",
			Want:        "a private key file path",
			Description: "PEM private key matching TLS_CERT_FILE.",
			Parse:       func(s string) bool { c.TLSKeyFile = s; return true },
		},
	}
}

// Duration returns a Var.Parse that stores in dst a duration from lo to hi
// inclusive.
func Duration(dst *time.Duration, lo, hi time.Duration) func(string) bool {
	return func(s string) bool {
		d, err := time.ParseDuration(s)
		if err != nil || d < lo || d > hi {
			return false
		}
		*dst = d
		return true
	}
}

// Int returns a Var.Parse that stores in dst a decimal integer from lo to hi
// inclusive.
func Int(dst *int, lo, hi int) func(string) bool {
	return func(s string) bool {
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			return false
		}
		*dst = n
		return true
	}
}

// Bool returns a Var.Parse that stores in dst a boolean as strconv.ParseBool
// reads it.
func Bool(dst *bool) func(string) bool {
	return func(s string) bool {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return false
		}
		*dst = b
		return true
	}
}

// Func returns a Var.Parse that stores in dst what parse makes of a value,
// for a type whose package has the parser (ratelimit.ParseRate,
// authn.ParseKeys).
func Func[T any](dst *T, parse func(string) (T, error)) func(string) bool {
	return func(s string) bool {
		v, err := parse(s)
		if err != nil {
			return false
		}
		*dst = v
		return true
	}
}

// setPublicURL keeps the URL as given, less any trailing slashes, so that
// callers build links as PublicURL + "/path".
func (c *Config) setPublicURL(s string) bool {
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

// setCORSOrigins keeps each origin as a browser serializes it in Origin, so
// that the middleware can compare strings exactly.
func (c *Config) setCORSOrigins(s string) bool {
	var origins []string
	for part := range strings.SplitSeq(s, ",") {
		o, ok := origin(strings.TrimSpace(part))
		if !ok || slices.Contains(origins, o) {
			return false
		}
		origins = append(origins, o)
	}
	c.CORSAllowedOrigins = origins
	return true
}

// origin returns s as the Origin header carries it (RFC 6454): lowercase
// scheme and host, the port only if it is not the scheme's default. It
// refuses anything else a URL can hold, and the wildcard "*", which is not
// an origin.
func origin(s string) (string, bool) {
	// url.Parse accepts an empty "?" or "#" and keeps no trace of it.
	if strings.ContainsAny(s, "?#*") {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.User != nil || u.Path != "" || u.RawPath != "" {
		return "", false
	}
	host, port := asciiLower(u.Hostname()), u.Port()
	if host == "" || (port == "" && strings.HasSuffix(u.Host, ":")) {
		return "", false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" || a.Is4In6() {
			return "", false
		}
		host = a.String()
		if a.Is6() {
			host = "[" + host + "]"
		}
	} else if strings.Contains(u.Host, "[") || !validHostname(host) {
		return "", false
	}
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return "", false
		}
		if (u.Scheme == "http" && n == 80) || (u.Scheme == "https" && n == 443) {
			port = ""
		} else {
			port = strconv.FormatUint(n, 10)
		}
	}
	if port != "" {
		host += ":" + port
	}
	return u.Scheme + "://" + host, true
}

// validHostname reports whether host is a lowercase DNS name in ASCII (an
// internationalized name in its xn-- form, as browsers send it).
func validHostname(host string) bool {
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
				return false
			}
		}
	}
	return len(host) <= 253
}

// setTrustedProxyCIDRs accepts prefixes and bare addresses (a /32 or /128).
// An IPv4-mapped IPv6 prefix is refused: client addresses are compared
// unmapped, so it could never match and would only look like trust.
func (c *Config) setTrustedProxyCIDRs(s string) bool {
	var prefixes []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		p, err := netip.ParsePrefix(part)
		if err != nil {
			a, aerr := netip.ParseAddr(part)
			if aerr != nil || a.Zone() != "" {
				return false
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Zone() != "" || p.Addr().Is4In6() {
			return false
		}
		p = p.Masked()
		if !slices.Contains(prefixes, p) {
			prefixes = append(prefixes, p)
		}
	}
	c.TrustedProxyCIDRs = prefixes
	return true
}

func (c *Config) setDatabaseURL(s string) bool {
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

func (c *Config) setServices(s string) bool {
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
