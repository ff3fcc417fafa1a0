// Package idempotency makes a create route safe to retry. A client that sends
// an Idempotency-Key header gets the route run at most once per key (barring
// the takeover below), and every retry gets the first answer back. Stripe's
// semantics are the model:
//
//   - No header: the request passes through untouched.
//   - A key is 1 to 255 printable ASCII characters (0x21–0x7E), sent once;
//     anything else is a 400 whose errors list the field "Idempotency-Key",
//     and nothing is stored.
//   - Keys belong to a scope (by default the authenticated user), so two
//     users' identical keys never meet.
//   - First use runs the handler and, if it answered below 400, stores the
//     status, Content-Type, Location and body. A 4xx or 5xx, or a panic,
//     forgets the key instead: the client may fix the request and retry
//     with the same key.
//   - A retry of the same request (the same method, path and body bytes; the
//     query string is not compared) gets the stored response byte for byte,
//     with Idempotent-Replayed: true; the handler does not run.
//   - The same key with a different request, whether the first is done or
//     still running: 422.
//   - The same key while the first request still runs: 409 with
//     Retry-After: 1. Once the first has held the key for longer than
//     [Options.Lease] it is presumed dead, and the next request takes the
//     key over and runs the handler. Handlers that cannot afford a second
//     run (the first may have been slow rather than dead) record [KeyFrom]
//     with what they create, under a unique constraint.
//   - A key is remembered for [Options.TTL] from its first use; after that it
//     counts as never used. [Store.DeleteExpired], run hourly by the job of
//     [Store.Periodic], removes the rows.
//
// Mount the middleware per route, inside authentication (the default scope
// needs the principal) and inside the request's timeout:
//
//	mux.Handle("POST /v1/orders", store.Middleware()(h.createOrder()))
//
// The response is buffered until the handler returns and sent after it is
// stored, so a client that saw an answer always gets the same one again.
package idempotency

import (
	"context"
	"embed"
	"io/fs"
	"net/http"
	"time"

	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/database"
)

// Migrations holds the idempotency_keys table's goose files, in sqlite/ and
// postgres/, the same versions in both.
var Migrations fs.FS = database.EmbeddedMigrations(migrationFiles, "migrations")

//go:embed migrations
var migrationFiles embed.FS

// Options configure a [Store]. The zero value is ready to use: every field
// has a default.
type Options struct {
	// TTL is how long a key is remembered from its first use; 0 means 24h.
	TTL time.Duration
	// Lease is how long a request that is still running holds its key;
	// after that another request with the key presumes it dead and takes
	// the key over. 0 means 1 minute. Set it above the server's request
	// timeout, so a live request is never presumed dead.
	Lease time.Duration
	// Scope says whose keys a request's are. It returns false when the
	// request has no scope, and a request with a key is then answered 401,
	// since its key cannot be told apart from anyone else's. nil means the
	// authenticated principal's user ID (see authn.PrincipalFrom); a public
	// route that wants keys sets its own (a client IP, say, or ("", true)
	// for one scope shared by all).
	Scope func(r *http.Request) (string, bool)
	// MaxResponseBytes is the largest response body stored; 0 means 1 MiB.
	// A larger response is sent as usual, but its key is forgotten (and a
	// line logged), so a retry runs the handler again.
	MaxResponseBytes int
	// Now tells the time, for tests; nil means time.Now.
	Now func() time.Time
}

// Store remembers Idempotency-Keys and their responses in the
// idempotency_keys table. It is safe for concurrent use.
type Store struct {
	db       *database.DB
	ttl      time.Duration
	lease    time.Duration
	scope    func(*http.Request) (string, bool)
	maxBytes int
	now      func() time.Time
}

// New returns a Store keeping its keys in db, which must hold the table of
// [Migrations]. Fields of o left zero (or negative) take their defaults.
func New(db *database.DB, o Options) *Store {
	s := &Store{
		db:       db,
		ttl:      o.TTL,
		lease:    o.Lease,
		scope:    o.Scope,
		maxBytes: o.MaxResponseBytes,
		now:      o.Now,
	}
	if s.ttl <= 0 {
		s.ttl = 24 * time.Hour
	}
	if s.lease <= 0 {
		s.lease = time.Minute
	}
	if s.scope == nil {
		s.scope = principalScope
	}
	if s.maxBytes <= 0 {
		s.maxBytes = 1 << 20
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// principalScope is the default scope: the authenticated user.
func principalScope(r *http.Request) (string, bool) {
	p, ok := authn.PrincipalFrom(r.Context())
	return p.UserID, ok && p.UserID != ""
}

type keyCtx struct{}

// KeyFrom returns the Idempotency-Key of the request whose context ctx is,
// as the middleware passes it to the handler it runs, and false when the
// request has none. A handler may store it with what it creates, under a
// unique constraint, to be safe even against the second run a takeover
// allows.
func KeyFrom(ctx context.Context) (string, bool) {
	k, ok := ctx.Value(keyCtx{}).(string)
	return k, ok
}
