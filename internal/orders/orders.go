// Package orders is the api service: orders with line items, the example
// resource of rightsize. Replace it with your own; everything in it is a
// pattern worth copying:
//
//   - Ownership: every query names the principal's user ID, so another
//     user's order is not found, exactly like a missing one (404).
//   - Pagination: newest first by (created_at, id), after a signed cursor,
//     so rows inserted between pages never shift a page.
//   - No N+1 queries: a page of orders with all their items is one query
//     whatever the page size, and so is one order.
//   - Indexes: each query is served by an index named in the migration
//     (a test reads EXPLAIN on PostgreSQL with 50,000 orders).
//   - Money: integers of the currency's minor units, totals computed by the
//     server with overflow checked, ISO 4217 currencies.
//   - A state machine (pending → paid → fulfilled, pending → cancelled)
//     whose transitions are single conditional UPDATEs; an invalid one is a
//     409 that says why.
//   - Side effects as jobs: the confirmation mail is a job inserted in the
//     order's transaction.
//   - Idempotent creates: POST /v1/orders takes an Idempotency-Key, and the
//     order row records it under a unique index, so even a request re-run
//     after a crash cannot make a second order.
//
// Its operations (Create, Order, Orders, Cancel, MarkPaid, Fulfil) are
// methods with plain arguments, callable from a handler, a job, another
// service through app's wiring, or a test.
package orders

import (
	"context"
	"embed"
	"errors"
	"log/slog"
	"time"

	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/mail"
	"github.com/rightsize/rightsize/internal/service"
)

// Def is the api service as app's catalog lists it: SERVICES=api mounts it.
var Def = service.Define("api", migrations, New).WithOpenAPI(openapiYAML)

// openapiYAML describes every route of Routes (see package openapi).
//
//go:embed openapi.yaml
var openapiYAML []byte

// migrations holds the service's schema: goose files in sqlite/ and
// postgres/, the same versions in both.
var migrations = database.EmbeddedMigrations(migrationFiles, "migrations")

//go:embed migrations
var migrationFiles embed.FS

// Config is the service's configuration: it has no variables of its own yet.
type Config struct{}

// Recipient is where mail about a user's orders goes.
type Recipient struct {
	Email string
	Name  string
}

// RecipientLookup returns the mail recipient of a user, or an error matching
// apperr.ErrNotFound if the user no longer exists. The auth service owns
// users; app wires its lookup here, so this service never imports it.
type RecipientLookup func(ctx context.Context, userID string) (Recipient, error)

// Allowance is what a user's plan allows the api service.
type Allowance struct {
	Plan string
	// OrdersPerMonth is how many orders the user may create per calendar
	// month (UTC); 0 means no limit.
	OrdersPerMonth int
	// Upgrade tells the user how to lift the limit.
	Upgrade string
}

// AllowanceLookup returns what userID's plan allows. The billing service
// owns plans; app wires its answer here, so this service never imports it.
type AllowanceLookup func(ctx context.Context, userID string) (Allowance, error)

// Service is the api service.
type Service struct {
	service.Defaults
	db         *database.DB
	jobs       *jobs.Client
	mailer     mail.Mailer
	logger     *slog.Logger
	pager      *httpx.Pager
	idempotent httpx.Middleware
	recipient  RecipientLookup
	allowance  AllowanceLookup
}

// New returns the api service.
func New(_ *Config, d service.Deps) (*Service, error) {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{
		db:         d.DB,
		jobs:       d.Jobs,
		mailer:     d.Mailer,
		logger:     d.Logger,
		pager:      httpx.NewPager(d.Config.CursorSecret, "orders"),
		idempotent: d.Idempotency.Middleware(),
		recipient: func(context.Context, string) (Recipient, error) {
			return Recipient{}, errors.New("orders: no RecipientLookup wired")
		},
		allowance: func(context.Context, string) (Allowance, error) { return Allowance{}, nil },
	}, nil
}

// SetRecipientLookup sets how the confirmation mail finds its recipient.
// app calls it once, before the process serves or works anything.
func (s *Service) SetRecipientLookup(f RecipientLookup) { s.recipient = f }

// SetAllowanceLookup sets where Create learns a user's limits; without
// one, nothing is limited. app calls it once, before the process serves.
func (s *Service) SetAllowanceLookup(f AllowanceLookup) { s.allowance = f }

// now is the time every operation stamps its rows with, to the microsecond
// that PostgreSQL keeps, so that what a create returns is what a read
// returns later.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
