// Package billing is the billing service: plans, Stripe subscriptions and
// payments, Stripe's webhooks, and what each user's plan allows.
//
// Stripe is reached only through stripe-go with an HTTP client bounded by
// OUTBOUND_TIMEOUT behind the platform's circuit breaker "stripe", so a
// Stripe outage makes billing's routes answer 503 at once and touches
// nothing else. What Stripe tells us arrives by webhook: each event is
// stored once by its ID with a job in the same transaction, and the job
// brings the local subscriptions, invoices and orders up to date, ignoring
// an event older than what a row already reflects. A periodic job
// reconciles the local state with Stripe, so a missed webhook is repaired.
//
// The service never imports another: app wires the orders it lets users
// pay for ([OrderLookup], [OrderPaid]), and gives [Service.Entitlements] to
// the api service, which enforces the plan's limits.
package billing

import (
	"context"
	"embed"
	"errors"
	"log/slog"
	"time"

	"github.com/stripe/stripe-go/v84"

	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/resilience"
	"github.com/rightsize/rightsize/internal/service"
)

// Def is the billing service as app's catalog lists it: SERVICES=billing
// mounts it.
var Def = service.Define("billing", migrations, New).WithOpenAPI(openapiYAML)

// openapiYAML describes every route of Routes (see package openapi).
//
//go:embed openapi.yaml
var openapiYAML []byte

var migrations = database.EmbeddedMigrations(migrationFiles, "migrations")

//go:embed migrations
var migrationFiles embed.FS

// PayableOrder is what billing needs of an order to take its payment.
type PayableOrder struct {
	ID          string
	Currency    string // ISO 4217, upper case
	TotalAmount int64  // in the currency's minor units
	Pending     bool   // still awaiting payment
}

// OrderLookup returns userID's order orderID, or an error matching
// apperr.ErrNotFound if userID has no such order. The api service owns
// orders; app wires its lookup here.
type OrderLookup func(ctx context.Context, userID, orderID string) (PayableOrder, error)

// OrderPaid records that order orderID was paid by the Stripe payment
// paymentRef. It must be safe to call twice with the same payment.
type OrderPaid func(ctx context.Context, orderID, paymentRef string) error

// Service is the billing service.
type Service struct {
	service.Defaults
	cfg     *Config
	db      *database.DB
	jobs    *jobs.Client
	logger  *slog.Logger
	pager   *httpx.Pager
	stripe  *stripe.Client // nil when billing is off
	breaker *resilience.Breaker
	plans   []Plan // free first; fixed by cfg, so made once
	// returnURL is where Stripe sends the user back.
	returnURL string

	orderLookup OrderLookup
	orderPaid   OrderPaid
	loginCheck  LoginCheck
}

// New returns the billing service. Without STRIPE_SECRET_KEY it is built
// all the same: its routes answer 503, and Entitlements allows everything.
func New(cfg *Config, d service.Deps) (*Service, error) {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		cfg:       cfg,
		db:        d.DB,
		jobs:      d.Jobs,
		logger:    d.Logger,
		pager:     httpx.NewPager(d.Config.CursorSecret, "invoices"),
		plans:     plans(cfg),
		returnURL: cfg.ReturnURL,
		orderLookup: func(context.Context, string, string) (PayableOrder, error) {
			return PayableOrder{}, errors.New("billing: no OrderLookup wired")
		},
		orderPaid: func(context.Context, string, string) error {
			return errors.New("billing: no OrderPaid wired")
		},
		loginCheck: func(context.Context, string, string) error {
			return errors.New("billing: no LoginCheck wired")
		},
	}
	if s.returnURL == "" {
		s.returnURL = d.Config.PublicURL + "/"
	}
	if cfg.Enabled() {
		s.breaker = resilience.NewBreaker("stripe", resilience.Settings{Timeout: d.Config.OutboundTimeout}, d.Breakers)
		s.stripe = newStripeClient(cfg, s.breaker)
	}
	return s, nil
}

// SetOrders sets how billing finds the orders users pay for, and how it
// records their payment. app calls it once, before the process serves or
// works anything.
func (s *Service) SetOrders(lookup OrderLookup, paid OrderPaid) {
	s.orderLookup, s.orderPaid = lookup, paid
}

// LoginCheck returns an error matching apperr.ErrUnauthenticated unless the
// user still exists and, for an access token (sessionID not empty), its
// login has not ended. The auth service owns both; app wires its check here.
type LoginCheck func(ctx context.Context, userID, sessionID string) error

// SetLoginCheck sets how billing checks that a caller's account and login
// are live before it opens a Stripe page for them. app calls it once, before
// the process serves anything.
func (s *Service) SetLoginCheck(c LoginCheck) { s.loginCheck = c }

// errNotConfigured answers every billing route while Stripe is not set up.
var errNotConfigured = apperr.New(apperr.ErrUnavailable, "billing is not configured: set STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET and STRIPE_PRICE_PRO")

// configured returns errNotConfigured if billing is off.
func (s *Service) configured() error {
	if s.stripe == nil {
		return errNotConfigured
	}
	return nil
}

// now is the time rows are stamped with, to the microsecond PostgreSQL keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
