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
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"

	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/ratelimit"
)

// Options configure the auth service.
type Options struct {
	DB   *database.DB
	Jobs *jobs.Client
	Keys *authn.Keys
	// PublicURL is where users reach the product; links in emails start with it.
	PublicURL       string
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	// IPLimit limits the credential endpoints per client IP; AccountLimit per
	// email address, so that one address cannot be attacked or mail-bombed
	// from many IPs.
	IPLimit        *ratelimit.Limiter
	AccountLimit   *ratelimit.Limiter
	TrustedProxies int
	CursorSecret   []byte
}

// Service is the auth service.
type Service struct {
	db         *database.DB
	jobs       *jobs.Client
	keys       *authn.Keys
	publicURL  string
	accessTTL  time.Duration
	refreshTTL time.Duration
	ipLimit    *ratelimit.Limiter
	acctLimit  *ratelimit.Limiter
	proxies    int
	keyPager   *httpx.Pager
	now        func() time.Time
}

// New returns the auth service.
func New(o Options) *Service {
	// The first DummyVerify builds its hash; done now, the first login with
	// an unknown email costs what every later one does.
	go DummyVerify("")
	return &Service{
		db:         o.DB,
		jobs:       o.Jobs,
		keys:       o.Keys,
		publicURL:  o.PublicURL,
		accessTTL:  o.AccessTokenTTL,
		refreshTTL: o.RefreshTokenTTL,
		ipLimit:    o.IPLimit,
		acctLimit:  o.AccountLimit,
		proxies:    o.TrustedProxies,
		keyPager:   httpx.NewPager(o.CursorSecret, "api-keys"),
		now:        func() time.Time { return time.Now().UTC() },
	}
}

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
