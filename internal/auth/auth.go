// Package auth is the auth service: accounts, email verification, password
// reset, access and refresh tokens, and API keys. It issues the credentials
// that every service verifies locally with package authn.
//
// Its rules, in short: an email is stored trimmed and lower-cased, and is
// unique; a new account must verify its email before it can log in; signup
// and password reset answer the same whether or not the account exists; a
// refresh token is used once, and presenting a used one revokes every token
// of its login (its family); every email is a job inserted in the
// transaction of the change that causes it.
//
// Its operations (SignUp, LogIn, Refresh, ResetPassword, CreateAPIKey, ...)
// are methods with plain arguments, callable from a handler, a job or a
// test alike; the handlers only decode, call and encode.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/mail"
	"github.com/rightsize/rightsize/internal/platform/ratelimit"
	"github.com/rightsize/rightsize/internal/service"
)

// Def is the auth service as app's catalog lists it.
var Def = service.Define("auth", migrations, New).WithOpenAPI(openapiYAML)

// openapiYAML describes every route of Routes (see package openapi).
//
//go:embed openapi.yaml
var openapiYAML []byte

// migrations holds the service's schema: goose files in sqlite/ and
// postgres/, the same versions in both.
var migrations = database.EmbeddedMigrations(migrationFiles, "migrations")

//go:embed migrations
var migrationFiles embed.FS

// Service is the auth service.
type Service struct {
	db         *database.DB
	jobs       *jobs.Client
	keys       *authn.Keys
	mailer     mail.Mailer
	logger     *slog.Logger
	publicURL  string
	accessTTL  time.Duration
	refreshTTL time.Duration
	// hashParams are PASSWORD_HASH: new hashes are made with them.
	hashParams PasswordParams
	// ipLimit limits the credential endpoints per client IP; acctLimit per
	// email address or account, so that one address cannot be attacked or
	// mail-bombed from many IPs.
	ipLimit   *ratelimit.Limiter
	acctLimit *ratelimit.Limiter
	// failing remembers which clients (account and IP) have been failing,
	// whom the account's delay slows.
	failing *ratelimit.Limiter
	// unknown counts failed logins of addresses without an account.
	unknown unknownFailures
	proxies int
	// devPages serves the pages the mailed links open (development only).
	devPages     bool
	keyPager     *httpx.Pager
	sessionPager *httpx.Pager
	// deletable says whether other services let an account go.
	deletable DeletionCheck
}

// DeletionCheck returns nil if userID's account may be deleted now, or an
// error (an apperr.ErrConflict saying what to do first) if another service
// holds something the deletion would orphan, such as a live subscription
// that would go on charging. app wires it.
type DeletionCheck func(ctx context.Context, userID string) error

// SetDeletionCheck sets what DeleteAccount asks before deleting; app calls
// it once, before the process serves.
func (s *Service) SetDeletionCheck(f DeletionCheck) { s.deletable = f }

// A method of service.Service that drifted (Route for Routes) would otherwise
// go unnoticed; auth has them all, so it embeds no service.Defaults.
var _ service.Service = (*Service)(nil)

// New returns the auth service.
func New(cfg *Config, d service.Deps) (*Service, error) {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.PasswordHash.check(); err != nil {
		return nil, fmt.Errorf("auth: PASSWORD_HASH: %w", err)
	}
	// The first dummyVerify builds its hash; done now, the first login with
	// an unknown email costs what every later one does.
	go dummyVerify(context.Background(), "", cfg.PasswordHash)
	return &Service{
		db:         d.DB,
		jobs:       d.Jobs,
		keys:       d.Keys,
		mailer:     d.Mailer,
		logger:     d.Logger,
		publicURL:  d.Config.PublicURL,
		accessTTL:  cfg.AccessTokenTTL,
		refreshTTL: cfg.RefreshTokenTTL,
		hashParams: cfg.PasswordHash,
		ipLimit:    ratelimit.New(cfg.RateLimitAuth, ratelimit.MaxKeys),
		acctLimit:  ratelimit.New(cfg.RateLimitAccount, ratelimit.MaxKeys),
		// Each failure extends the memory by maxLoginDelay, up to an hour
		// ahead: a lone failure is remembered 15 min, repeated ones longer.
		failing:      ratelimit.New(ratelimit.Rate{Events: 4, Per: 4 * maxLoginDelay}, ratelimit.MaxKeys),
		proxies:      d.Config.TrustedProxyCount,
		keyPager:     httpx.NewPager(d.Config.CursorSecret, "api-keys"),
		sessionPager: httpx.NewPager(d.Config.CursorSecret, "sessions"),
		devPages:     !d.Config.Production(),
		deletable:    func(context.Context, string) error { return nil },
	}, nil
}

// now is the time every operation stamps its rows with.
func now() time.Time { return time.Now().UTC() }

// How long the single-use tokens sent by email stay valid.
const (
	verifyTokenTTL = 48 * time.Hour
	resetTokenTTL  = time.Hour
)

// newToken returns a random 256-bit token, URL-safe, and the hash under
// which it is stored: a database leak must not hand out working tokens. A
// plain SHA-256 is enough for 256 random bits; argon2 is for guessable
// secrets like passwords.
func newToken(prefix string) (token, hash string) {
	b := make([]byte, 32)
	rand.Read(b) // never fails: crypto/rand crashes the program instead.
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token)
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
