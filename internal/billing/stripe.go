package billing

import (
	"context"
	"errors"
	"fmt"

	"github.com/stripe/stripe-go/v84"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/resilience"
)

// newStripeClient returns a stripe-go client whose every request goes
// through breaker, which bounds it with OUTBOUND_TIMEOUT and refuses it
// while Stripe is failing.
func newStripeClient(cfg *Config, breaker *resilience.Breaker) *stripe.Client {
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:        stripe.String(cfg.StripeAPIURL),
		HTTPClient: resilience.NewHTTPClient(breaker),
		// No retries inside a request: a retry would spend the caller's
		// time on a Stripe that is already failing, and the breaker counts
		// each failure. Jobs retry with River's backoff instead.
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	return stripe.NewClient(cfg.StripeSecretKey, stripe.WithBackends(&stripe.Backends{
		API: backend, Connect: backend, Uploads: backend, MeterEvents: backend,
	}))
}

// stripeErr turns an error of a Stripe call into one the HTTP layer answers
// rightly: Stripe unreachable, slow, failing or refused by the breaker is a
// 503 saying so; anything else Stripe refused is our mistake (a bad price ID,
// a bad key), a 500 whose cause is logged.
func stripeErr(op string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("stripe %s: %w", op, err)
	if se, ok := errors.AsType[*stripe.Error](err); ok && se.HTTPStatusCode > 0 && se.HTTPStatusCode < 500 && se.HTTPStatusCode != 429 {
		return err
	}
	return &apperr.Error{
		Kind:    apperr.ErrUnavailable,
		Message: "Stripe is unavailable: try again in a minute",
		// About as long as the breaker stays open.
		RetryAfter: resilience.DefaultOpenFor,
		Err:        err,
	}
}

// callStripe runs fn, a call through s.stripe, turning its error with
// stripeErr.
func (s *Service) callStripe(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	if err := s.configured(); err != nil {
		return err
	}
	return stripeErr(op, fn(ctx))
}
