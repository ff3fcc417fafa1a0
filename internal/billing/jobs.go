package billing

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/stripe/stripe-go/v84"

	"github.com/rightsize/rightsize/internal/platform/apperr"
)

// ReconcileArgs compares local subscriptions with Stripe's and repairs any
// that drifted (a webhook that never arrived), a batch of customers at a
// time, those compared longest ago first. It also deletes processed events
// older than 30 days.
type ReconcileArgs struct{}

// Kind identifies the job; it is stored with every queued job, so it must
// never change.
func (ReconcileArgs) Kind() string { return "billing.reconcile" }

// reconcileBatch is how many customers one run compares: at 15 minutes a
// run, 9,600 customers a day, each one Stripe list call.
const reconcileBatch = 100

type reconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	s *Service
}

func (w *reconcileWorker) Work(ctx context.Context, _ *river.Job[ReconcileArgs]) error {
	if _, err := deleteOldEvents(ctx, w.s.db, time.Now().Add(-30*24*time.Hour), 1000); err != nil {
		return err
	}
	if w.s.configured() != nil {
		return nil
	}
	return w.s.Reconcile(ctx, reconcileBatch)
}

// Reconcile compares the subscriptions of up to limit customers, those
// compared longest ago, with Stripe's, and stores what Stripe says. What
// it fetched is as recent as the fetch, so it replaces any row an event
// older than now wrote.
func (s *Service) Reconcile(ctx context.Context, limit int) error {
	if err := s.configured(); err != nil {
		return err
	}
	customers, err := customersToReconcile(ctx, s.db, limit)
	if err != nil {
		return err
	}
	for customer, userID := range customers {
		version := time.Now().Unix()
		err := s.callStripe(ctx, "list subscriptions", func(ctx context.Context) error {
			params := &stripe.SubscriptionListParams{Customer: stripe.String(customer), Status: stripe.String("all")}
			for sub, err := range s.stripe.V1Subscriptions.List(ctx, params) {
				if err != nil {
					return err
				}
				// The list's customer is not expanded; it is this one.
				sub.Customer = &stripe.Customer{ID: customer}
				if err := s.recordSubscription(ctx, sub, version); err != nil {
					return err
				}
			}
			return nil
		})
		if errors.Is(err, apperr.ErrUnavailable) {
			// The breaker is open or Stripe failing: the rest waits for the
			// next run rather than piling onto it.
			return err
		}
		if err != nil {
			// Stripe refused this customer (deleted in the dashboard, say):
			// it must not stay first in line and stall every run.
			s.logger.LogAttrs(ctx, slog.LevelWarn, "reconcile: Stripe refused a customer",
				slog.String("user_id", userID), slog.String("err", err.Error()))
		}
		if err := markReconciled(ctx, s.db, userID); err != nil {
			return err
		}
		s.logger.LogAttrs(ctx, slog.LevelDebug, "reconciled", slog.String("user_id", userID))
	}
	return nil
}

// Workers registers the billing service's job workers.
func (s *Service) Workers(w *river.Workers) {
	river.AddWorker(w, &eventWorker{s: s})
	river.AddWorker(w, &reconcileWorker{s: s})
}

// Periodic lists the billing service's periodic jobs. Reconcile waits its
// first interval rather than running at start: a deploy is no reason to ask
// Stripe about anyone.
func (s *Service) Periodic() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(
		river.PeriodicInterval(15*time.Minute),
		func() (river.JobArgs, *river.InsertOpts) { return ReconcileArgs{}, nil },
		nil,
	)}
}
