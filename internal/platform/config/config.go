// Package config reads the program's settings from environment variables,
// once, at start-up, into a typed Config.
//
// Every variable is listed by Vars with its default and meaning; an empty
// variable counts as unset and takes its default. Load checks every variable
// before it returns, so one run reports every mistake:
//
//	cfg, err := config.Load(getenv)
//	// SHUTDOWN_TIMEOUT: invalid value "ten": want a duration greater than zero, such as 15s
//	// PORT: invalid value "0": want an integer from 1 to 65535
//
// Secrets (DATABASE_URL, SMTP_URL, CURSOR_SECRET, AUTH_SIGNING_KEY) never
// appear in an error, and are masked when a Config is logged or printed.
package config

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rightsize/rightsize/internal/platform/ratelimit"
)

// The values of Config.DBDialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Config is the program's validated configuration. Each field's variable is
// named beside it; Vars documents them all.
type Config struct {
	Env     string // ENV: "development" or "production"
	Port    int    // PORT
	DataDir string // DATA_DIR

	// DatabaseURL is DATABASE_URL as given, possibly empty. Open the database
	// with DBDialect and DBDSN instead, which resolve the default.
	DatabaseURL string
	// DBDialect is DialectSQLite or DialectPostgres.
	DBDialect string
	// DBDSN is the PostgreSQL URL as given, or the path of the SQLite file
	// (DATA_DIR/rightsize.db when DATABASE_URL is empty).
	DBDSN string

	LogLevel        slog.Level    // LOG_LEVEL
	RequestTimeout  time.Duration // REQUEST_TIMEOUT
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT
	ShutdownDelay   time.Duration // SHUTDOWN_DELAY, always less than ShutdownTimeout
	QueryTimeout    time.Duration // DB_QUERY_TIMEOUT
	// SlowQuery is SLOW_QUERY_MS: queries taking longer are logged; 0 logs
	// every query.
	SlowQuery   time.Duration
	MetricsAddr string // METRICS_ADDR, host:port

	AutoMigrate       bool          // AUTO_MIGRATE
	DBMaxOpenConns    int           // DB_MAX_OPEN_CONNS
	DBMaxIdleConns    int           // DB_MAX_IDLE_CONNS, never more than DBMaxOpenConns
	DBConnMaxLifetime time.Duration // DB_CONN_MAX_LIFETIME, 0 for no limit

	// Services is SERVICES: lowercase, distinct names in the order given, or
	// nil for every service. Whether each name is a real service is for the
	// caller to check.
	Services          []string
	Worker            bool // WORKER
	WorkerConcurrency int  // WORKER_CONCURRENCY

	SMTPURL         string        // SMTP_URL; empty means the console mailer
	MailFrom        string        // MAIL_FROM, a valid RFC 5322 address
	OutboundTimeout time.Duration // OUTBOUND_TIMEOUT
	MaxBodyBytes    int64         // MAX_BODY_BYTES

	// CursorSecret is CURSOR_SECRET, at least 32 bytes. In development, when
	// the variable is unset, Load generates a random key and sets
	// CursorSecretGenerated: cursors signed with it do not survive a restart
	// and are not accepted by other instances.
	CursorSecret          []byte
	CursorSecretGenerated bool

	// PublicURL is PUBLIC_URL, an absolute http or https URL without a
	// trailing "/", query, fragment or user, so links are PublicURL + "/path".
	// Always https in production.
	PublicURL string
	// AuthSigningKey is AUTH_SIGNING_KEY as given: empty, or a key set that
	// authn.ParseKeys accepts. Empty happens only in development, where the
	// caller uses authn.LoadOrCreateDevKey instead.
	AuthSigningKey    string
	AccessTokenTTL    time.Duration // ACCESS_TOKEN_TTL, from 1m to 24h
	RefreshTokenTTL   time.Duration // REFRESH_TOKEN_TTL, always greater than AccessTokenTTL
	TrustedProxyCount int           // TRUSTED_PROXY_COUNT, for ratelimit.ClientIP

	RateLimitAuth    ratelimit.Rate // RATE_LIMIT_AUTH, per client IP
	RateLimitAccount ratelimit.Rate // RATE_LIMIT_ACCOUNT, per email address
	RateLimitAPI     ratelimit.Rate // RATE_LIMIT_API, per authenticated principal

	// TLSCertFile and TLSKeyFile are both set (serve HTTPS) or both empty.
	// Load does not open them.
	TLSCertFile string
	TLSKeyFile  string
}

// VarError says that one environment variable is unacceptable.
type VarError struct {
	Name string
	// Value is the offending value, "" if the variable is missing, or
	// "(redacted)" for a secret variable, whose value is never kept.
	Value string
	// Want describes an acceptable value.
	Want string

	redacted bool
}

const redacted = "(redacted)"

// Error reads like `PORT: invalid value "0": want an integer from 1 to 65535`.
func (e *VarError) Error() string {
	switch {
	case e.Value == "":
		return e.Name + ": not set: want " + e.Want
	case e.redacted:
		return e.Name + ": invalid value " + e.Value + ": want " + e.Want
	}
	return fmt.Sprintf("%s: invalid value %q: want %s", e.Name, e.Value, e.Want)
}

func (v Var) invalid(value, want string) *VarError {
	e := &VarError{Name: v.Name, Value: value, Want: want}
	if v.Secret && value != "" {
		e.Value, e.redacted = redacted, true
	}
	return e
}

// Load reads every variable in Vars through getenv (os.Getenv in main),
// applying defaults to the unset ones. If any variable is unacceptable it
// returns a zero Config and an error joining one *VarError per bad variable,
// in the order of Vars; errors.As finds the first.
//
// With ENV=production, CURSOR_SECRET must be set and must not be a
// placeholder, AUTH_SIGNING_KEY must be set, and PUBLIC_URL must be an
// https URL (its http default is refused). An empty DATABASE_URL is accepted
// there (SQLite on a persistent disk is legitimate); the caller may warn
// about it.
func Load(getenv func(string) string) (Config, error) {
	var (
		c    Config
		errs []*VarError
		// set and ok record, by name, which variables were given and which
		// parsed, so that checks spanning two variables run only on good
		// values and blame the variable the user actually set.
		set = make(map[string]bool)
		ok  = make(map[string]bool)
	)
	for _, v := range vars {
		value := getenv(v.Name)
		if value == "" {
			// A default that does not parse is a bug in the table, which
			// TestLoadDefaults catches, not a mistake of the operator's.
			if v.Default != "" && !v.set(&c, v.Default) {
				panic("config: default of " + v.Name + " does not parse")
			}
			ok[v.Name] = true
			continue
		}
		set[v.Name] = true
		if !v.set(&c, value) {
			errs = append(errs, v.invalid(value, v.Want))
			continue
		}
		ok[v.Name] = true
	}

	if !set["DATABASE_URL"] {
		c.DBDialect, c.DBDSN = DialectSQLite, filepath.Join(c.DataDir, "rightsize.db")
	}

	if ok["SHUTDOWN_DELAY"] && ok["SHUTDOWN_TIMEOUT"] && c.ShutdownDelay >= c.ShutdownTimeout {
		errs = append(errs, byName("SHUTDOWN_DELAY").invalid(getenv("SHUTDOWN_DELAY"),
			fmt.Sprintf("a duration of zero or more, less than SHUTDOWN_TIMEOUT (%s)", c.ShutdownTimeout)))
	}

	// REFRESH_TOKEN_TTL is blamed whichever was set: its default (720h) is
	// above ACCESS_TOKEN_TTL's largest value (24h), so only setting it can
	// make the two conflict.
	if ok["ACCESS_TOKEN_TTL"] && ok["REFRESH_TOKEN_TTL"] && c.RefreshTokenTTL <= c.AccessTokenTTL {
		errs = append(errs, byName("REFRESH_TOKEN_TTL").invalid(getenv("REFRESH_TOKEN_TTL"),
			fmt.Sprintf("a duration of at least 1h, greater than ACCESS_TOKEN_TTL (%s)", c.AccessTokenTTL)))
	}

	if ok["DB_MAX_IDLE_CONNS"] && ok["DB_MAX_OPEN_CONNS"] && c.DBMaxIdleConns > c.DBMaxOpenConns {
		if set["DB_MAX_IDLE_CONNS"] {
			errs = append(errs, byName("DB_MAX_IDLE_CONNS").invalid(getenv("DB_MAX_IDLE_CONNS"),
				fmt.Sprintf("an integer from 0 to DB_MAX_OPEN_CONNS (%d)", c.DBMaxOpenConns)))
		} else {
			c.DBMaxIdleConns = c.DBMaxOpenConns
		}
	}

	switch {
	case set["TLS_CERT_FILE"] && !set["TLS_KEY_FILE"]:
		errs = append(errs, byName("TLS_KEY_FILE").invalid("", "a private key file path, since TLS_CERT_FILE is set"))
	case set["TLS_KEY_FILE"] && !set["TLS_CERT_FILE"]:
		errs = append(errs, byName("TLS_CERT_FILE").invalid("", "a certificate file path, since TLS_KEY_FILE is set"))
	}

	if ok["ENV"] && ok["CURSOR_SECRET"] {
		secret := byName("CURSOR_SECRET")
		switch {
		case c.Production() && !set[secret.Name]:
			errs = append(errs, secret.invalid("", secret.Want+" (required when ENV=production)"))
		case c.Production() && placeholder(c.CursorSecret):
			errs = append(errs, secret.invalid(getenv(secret.Name), secret.Want+", random rather than a placeholder"))
		case !set[secret.Name]:
			c.CursorSecret = make([]byte, minSecretLen)
			rand.Read(c.CursorSecret) // never fails: crypto/rand crashes the program instead.
			c.CursorSecretGenerated = true
		}
	}

	if ok["ENV"] && c.Production() {
		if key := byName("AUTH_SIGNING_KEY"); !set[key.Name] {
			errs = append(errs, key.invalid("", key.Want+" (required when ENV=production)"))
		}
		// The console mailer would write verification and reset links, which
		// are credentials, into the logs.
		if smtp := byName("SMTP_URL"); !set[smtp.Name] {
			errs = append(errs, smtp.invalid("", smtp.Want+" (required when ENV=production)"))
		}
		if u := byName("PUBLIC_URL"); ok[u.Name] && !strings.HasPrefix(asciiLower(c.PublicURL), "https://") {
			errs = append(errs, u.invalid(getenv(u.Name), wantHTTPS+" (required when ENV=production)"))
		}
	}

	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *VarError) int { return index(a.Name) - index(b.Name) })
		joined := make([]error, len(errs))
		for i, e := range errs {
			joined[i] = e
		}
		return Config{}, errors.Join(joined...)
	}
	return c, nil
}

// wantHTTPS is PUBLIC_URL's Want in production.
const wantHTTPS = "an absolute https:// URL with a host and no query, fragment or user, such as https://app.example.com"

func byName(name string) Var { return vars[index(name)] }

func index(name string) int {
	return slices.IndexFunc(vars, func(v Var) bool { return v.Name == name })
}

// placeholder reports whether a secret looks like one a person typed or
// copied from an example rather than generated: long enough to pass the
// length check, but guessable.
func placeholder(secret []byte) bool {
	if bytes.Count(secret, secret[:1]) == len(secret) {
		return true
	}
	s := strings.ToLower(string(secret))
	for _, word := range []string{"changeme", "change-me", "change_me", "replace", "placeholder", "example", "secret", "password"} {
		if strings.Contains(s, word) {
			return true
		}
	}
	return false
}

// Production reports whether ENV is "production".
func (c Config) Production() bool { return c.Env == envProduction }

// Addr is the HTTP listen address, ":PORT".
func (c Config) Addr() string { return ":" + strconv.Itoa(c.Port) }

// LogValue is a group of every field keyed by its variable's lowercase name,
// for logging the effective configuration at start. CursorSecret and
// AuthSigningKey are never shown, not even in part, and the passwords in
// DATABASE_URL and SMTP_URL read "xxxxx".
func (c Config) LogValue() slog.Value {
	// A SQLite location holds no credentials and is not a hierarchical URL,
	// so only a PostgreSQL URL goes through maskURL.
	dbURL, dsn := c.DatabaseURL, c.DBDSN
	if c.DBDialect == DialectPostgres {
		dbURL, dsn = maskURL(dbURL), maskURL(dsn)
	}
	secret, signingKey := "", ""
	if len(c.CursorSecret) > 0 {
		secret = redacted
	}
	if c.AuthSigningKey != "" {
		signingKey = redacted
	}
	return slog.GroupValue(
		slog.String("env", c.Env),
		slog.Int("port", c.Port),
		slog.String("data_dir", c.DataDir),
		slog.String("database_url", dbURL),
		slog.String("db_dialect", c.DBDialect),
		slog.String("db_dsn", dsn),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("request_timeout", c.RequestTimeout.String()),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
		slog.String("shutdown_delay", c.ShutdownDelay.String()),
		slog.String("db_query_timeout", c.QueryTimeout.String()),
		slog.Int64("slow_query_ms", c.SlowQuery.Milliseconds()),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.Bool("auto_migrate", c.AutoMigrate),
		slog.Int("db_max_open_conns", c.DBMaxOpenConns),
		slog.Int("db_max_idle_conns", c.DBMaxIdleConns),
		slog.String("db_conn_max_lifetime", c.DBConnMaxLifetime.String()),
		slog.String("services", strings.Join(c.Services, ",")),
		slog.Bool("worker", c.Worker),
		slog.Int("worker_concurrency", c.WorkerConcurrency),
		slog.String("smtp_url", maskURL(c.SMTPURL)),
		slog.String("mail_from", c.MailFrom),
		slog.String("outbound_timeout", c.OutboundTimeout.String()),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
		slog.String("cursor_secret", secret),
		slog.Bool("cursor_secret_generated", c.CursorSecretGenerated),
		slog.String("public_url", c.PublicURL),
		slog.String("auth_signing_key", signingKey),
		slog.String("access_token_ttl", c.AccessTokenTTL.String()),
		slog.String("refresh_token_ttl", c.RefreshTokenTTL.String()),
		slog.Int("trusted_proxy_count", c.TrustedProxyCount),
		slog.String("rate_limit_auth", c.RateLimitAuth.String()),
		slog.String("rate_limit_account", c.RateLimitAccount.String()),
		slog.String("rate_limit_api", c.RateLimitAPI.String()),
		slog.String("tls_cert_file", c.TLSCertFile),
		slog.String("tls_key_file", c.TLSKeyFile),
	)
}

// String renders c as LogValue does, so that printing a Config with %v
// cannot leak a secret.
func (c Config) String() string {
	var b strings.Builder
	for i, a := range c.LogValue().Group() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%q", a.Key, a.Value.String())
	}
	return b.String()
}

// maskURL replaces the password of a URL, and any query parameter that looks
// like a credential (pgx accepts ?password=), with "xxxxx". A value it cannot
// take apart is redacted whole rather than risk showing the password.
func maskURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" {
		return redacted
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return redacted
		}
		masked := false
		for k := range q {
			lk := strings.ToLower(k)
			if strings.Contains(lk, "pass") || strings.Contains(lk, "secret") || strings.Contains(lk, "token") || strings.Contains(lk, "key") {
				q[k] = []string{"xxxxx"}
				masked = true
			}
		}
		if masked {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}
