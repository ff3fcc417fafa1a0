// Package config reads the program's settings from environment variables,
// once, at start-up, into typed structs.
//
// Each part of the program that has settings declares them as a table of
// [Var]s bound to the fields of its own struct (a [Section]): the platform's
// are [Config]'s; each service has its own. [Load] reads them all, applies
// defaults to the unset ones, and checks every variable before it returns,
// so one run reports every mistake:
//
//	cfg, err := config.Load(getenv, &authCfg)
//	// SHUTDOWN_TIMEOUT: invalid value "ten": want a duration greater than zero, such as 15s
//	// PORT: invalid value "0": want an integer from 1 to 65535
//
// The same tables document the variables ([Describe]) and show the settings
// in effect ([Config.Settings]); a secret variable's value never appears in
// an error, a log line or a listing.
package config

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Var documents and parses one environment variable. The same table drives
// parsing, documentation and the listing of settings, so the documented
// default is the default Load applies.
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
	// masked wherever settings are shown.
	Secret bool
	// Show, for a secret, returns the part of a value that may be shown (a
	// URL with its password masked); nil shows nothing of it.
	Show func(value string) string
	// Parse stores a non-empty value in its destination, reporting false if
	// the value is not acceptable.
	Parse func(value string) bool
}

// Section is one part of the program's settings: its variables, bound to the
// fields of the struct that implements it.
type Section interface {
	Vars() []Var
}

// Checker is a Section with checks that span its variables (or read the
// platform's ENV), run by Load once every variable has been parsed.
type Checker interface {
	Check(k *Checks)
}

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
	LogFormat       string        // LOG_FORMAT: "text", "json", or "" to pick by terminal
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
	DBConnMaxIdleTime time.Duration // DB_CONN_MAX_IDLE_TIME, 0 for no limit
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
	// CORSAllowedOrigins is CORS_ALLOWED_ORIGINS: distinct origins, each as a
	// browser writes it in the Origin header (lowercase, no default port),
	// never "*"; nil allows none.
	CORSAllowedOrigins []string
	TrustedProxyCount  int // TRUSTED_PROXY_COUNT, for ratelimit.ClientIP
	// TrustedProxyCIDRs is TRUSTED_PROXY_CIDRS, masked prefixes of plain
	// (not IPv4-mapped) addresses; nil trusts the header from any peer when
	// TrustedProxyCount is set, as ratelimit.ClientIP explains.
	TrustedProxyCIDRs []netip.Prefix

	// TLSCertFile and TLSKeyFile are both set (serve HTTPS) or both empty.
	// Load does not open them.
	TLSCertFile string
	TLSKeyFile  string

	// settings are every variable's value in effect, secrets masked.
	settings []Setting
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

// VarErrors returns the *VarError of each part of err, an error Load
// returned, in order; ok is false if some part is not one.
func VarErrors(err error) (errs []*VarError, ok bool) {
	if err == nil {
		return nil, true
	}
	parts := []error{err}
	if j, isJoin := err.(interface{ Unwrap() []error }); isJoin {
		parts = j.Unwrap()
	}
	for _, e := range parts {
		ve, isVar := errors.AsType[*VarError](e)
		if !isVar {
			return errs, false
		}
		errs = append(errs, ve)
	}
	return errs, true
}

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

// Load reads the platform's variables ([Config.Vars]) and then every
// section's through getenv (os.Getenv in main), applying defaults to the
// unset ones, and runs the checks of every [Checker]. If any variable is
// unacceptable it returns a zero Config and an error joining one *VarError
// per bad variable, in table order; errors.As finds the first. Sections are
// filled in place. Load panics if two tables declare the same variable, or a
// default does not parse: both are bugs in a table, not an operator's
// mistakes.
//
// With ENV=production, CURSOR_SECRET and SMTP_URL must be set (the secret
// neither a placeholder nor low in entropy, see [EntropyBits]) and
// PUBLIC_URL must be an https URL. An empty
// DATABASE_URL is accepted there (SQLite on a persistent disk is
// legitimate); the caller may warn about it.
func Load(getenv func(string) string, sections ...Section) (Config, error) {
	var c Config
	sections = append([]Section{&c}, sections...)
	k := &Checks{getenv: getenv, vars: map[string]Var{}, given: map[string]bool{}, parsed: map[string]bool{}}
	var order []string
	for _, sec := range sections {
		for _, v := range sec.Vars() {
			if _, dup := k.vars[v.Name]; dup {
				panic("config: " + v.Name + " is declared twice")
			}
			k.vars[v.Name] = v
			order = append(order, v.Name)
			value := getenv(v.Name)
			if value == "" {
				if v.Default != "" && !v.Parse(v.Default) {
					panic("config: default of " + v.Name + " does not parse")
				}
				k.parsed[v.Name] = true
				c.settings = append(c.settings, Setting{Name: v.Name, Value: shown(v, v.Default), Default: true})
				continue
			}
			k.given[v.Name] = true
			c.settings = append(c.settings, Setting{Name: v.Name, Value: shown(v, value)})
			if !v.Parse(value) {
				k.Fail(v.Name, v.Want)
				continue
			}
			k.parsed[v.Name] = true
		}
	}
	k.production = k.parsed["ENV"] && c.Production()
	for _, sec := range sections {
		if ch, ok := sec.(Checker); ok {
			ch.Check(k)
		}
	}
	if len(k.errs) > 0 {
		slices.SortStableFunc(k.errs, func(a, b *VarError) int {
			return slices.Index(order, a.Name) - slices.Index(order, b.Name)
		})
		joined := make([]error, len(k.errs))
		for i, e := range k.errs {
			joined[i] = e
		}
		return Config{}, errors.Join(joined...)
	}
	return c, nil
}

// Checks is what a [Checker] checks with: which variables were given and
// parsed, and where it reports a bad one.
type Checks struct {
	getenv        func(string) string
	vars          map[string]Var
	given, parsed map[string]bool
	production    bool
	errs          []*VarError
}

// Given reports whether the variable was set (to a non-empty value).
func (k *Checks) Given(name string) bool { return k.given[name] }

// Parsed reports whether every named variable has a good value, given or
// default: checks spanning variables run only on good values, so that they
// blame the variable the operator actually got wrong.
func (k *Checks) Parsed(names ...string) bool {
	for _, n := range names {
		if !k.parsed[n] {
			return false
		}
	}
	return true
}

// Production reports whether ENV is production.
func (k *Checks) Production() bool { return k.production }

// Fail reports that the variable's value (as given; "" when unset) is
// unacceptable, wanting want.
func (k *Checks) Fail(name, want string) {
	v, ok := k.vars[name]
	if !ok {
		panic("config: check of undeclared variable " + name)
	}
	k.parsed[name] = false
	k.errs = append(k.errs, v.invalid(k.getenv(name), want))
}

// Check runs the platform's checks that span variables.
func (c *Config) Check(k *Checks) {
	if !k.Given("DATABASE_URL") {
		c.DBDialect, c.DBDSN = DialectSQLite, filepath.Join(c.DataDir, "rightsize.db")
	}
	if k.Parsed("SHUTDOWN_DELAY", "SHUTDOWN_TIMEOUT") && c.ShutdownDelay >= c.ShutdownTimeout {
		k.Fail("SHUTDOWN_DELAY", fmt.Sprintf("a duration of zero or more, less than SHUTDOWN_TIMEOUT (%s)", c.ShutdownTimeout))
	}
	if k.Parsed("DB_MAX_IDLE_CONNS", "DB_MAX_OPEN_CONNS") {
		switch {
		case !k.Given("DB_MAX_IDLE_CONNS"):
			c.DBMaxIdleConns = c.DBMaxOpenConns
		case c.DBMaxIdleConns > c.DBMaxOpenConns:
			k.Fail("DB_MAX_IDLE_CONNS", fmt.Sprintf("an integer from 0 to DB_MAX_OPEN_CONNS (%d)", c.DBMaxOpenConns))
		}
	}
	switch {
	case k.Given("TLS_CERT_FILE") && !k.Given("TLS_KEY_FILE"):
		k.Fail("TLS_KEY_FILE", "a private key file path, since TLS_CERT_FILE is set")
	case k.Given("TLS_KEY_FILE") && !k.Given("TLS_CERT_FILE"):
		k.Fail("TLS_CERT_FILE", "a certificate file path, since TLS_KEY_FILE is set")
	}
	if k.Parsed("ENV", "CURSOR_SECRET") {
		want := k.vars["CURSOR_SECRET"].Want
		switch {
		case k.Production() && !k.Given("CURSOR_SECRET"):
			k.Fail("CURSOR_SECRET", want+" (required when ENV=production)")
		case k.Production() && placeholder(c.CursorSecret):
			k.Fail("CURSOR_SECRET", want+", random rather than a placeholder")
		case k.Production() && EntropyBits(c.CursorSecret) < minSecretBits:
			k.Fail("CURSOR_SECRET", want+", random rather than patterned: it repeats, counts or uses too few distinct characters ("+wantRandom+")")
		case !k.Given("CURSOR_SECRET"):
			c.CursorSecret = make([]byte, minSecretLen)
			rand.Read(c.CursorSecret) // never fails: crypto/rand crashes the program instead.
			c.CursorSecretGenerated = true
		}
	}
	if k.Production() {
		// The console mailer would write verification and reset links, which
		// are credentials, into the logs.
		if !k.Given("SMTP_URL") {
			k.Fail("SMTP_URL", k.vars["SMTP_URL"].Want+" (required when ENV=production)")
		}
		if k.Parsed("PUBLIC_URL") && !strings.HasPrefix(asciiLower(c.PublicURL), "https://") {
			k.Fail("PUBLIC_URL", wantHTTPS+" (required when ENV=production)")
		}
	}
}

// minSecretBits is the least [EntropyBits] a production CURSOR_SECRET may
// score. Generated keys score far more (`openssl rand -base64 32` never under
// 183 in a million tries; `openssl rand -hex 16`, the weakest the length
// check lets through, never under 77); typed patterns score far less.
const minSecretBits = 64

// wantRandom says how to make a key that passes every check.
const wantRandom = "generate one with openssl rand -base64 48"

// wantHTTPS is PUBLIC_URL's Want in production.
const wantHTTPS = "an absolute https:// URL with a host and no query, fragment or user, such as https://app.example.com"

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

// Setting is one variable's value in effect.
type Setting struct {
	Name string
	// Value is as given or defaulted; for a secret, only what its Var's Show
	// reveals, or "(redacted)".
	Value string
	// Default is true when the variable was unset and took its default.
	Default bool
}

// shown is what may be shown of a variable's value.
func shown(v Var, value string) string {
	switch {
	case !v.Secret || value == "":
		return value
	case v.Show != nil:
		return v.Show(value)
	}
	return redacted
}

// Settings returns every variable Load read, of every section, with its
// value in effect, secrets masked, in table order.
func (c Config) Settings() []Setting { return slices.Clone(c.settings) }

// LogValue is a group of every setting keyed by its variable's lowercase
// name, for logging the configuration at start. Secrets are masked: the
// group is made from [Config.Settings].
func (c Config) LogValue() slog.Value {
	attrs := make([]slog.Attr, len(c.settings))
	for i, s := range c.settings {
		attrs[i] = slog.String(strings.ToLower(s.Name), s.Value)
	}
	return slog.GroupValue(attrs...)
}

// String renders c as LogValue does, so that printing a Config with %v
// cannot leak a secret.
func (c Config) String() string {
	var b strings.Builder
	for i, s := range c.settings {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%q", strings.ToLower(s.Name), s.Value)
	}
	return b.String()
}

// Describe lists the variables of the platform and of every section, in the
// order Load reads them, for documentation (`rightsize help env`, the
// README).
func Describe(sections ...Section) []Var {
	var c Config
	vars := c.Vars()
	for _, s := range sections {
		vars = append(vars, s.Vars()...)
	}
	return vars
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
