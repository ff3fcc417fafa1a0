package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/stripe/stripe-go/v84"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/httpx"
)

// webhookTolerance is how old a signature may be: stripe-go's default, five
// minutes, beyond which a captured request cannot be replayed.
const webhookTolerance = webhook.DefaultTolerance

// stripeWebhook receives Stripe's events. It verifies the signature, stores
// the event once by its ID with the job that processes it, in one
// transaction, and answers 200 at once: Stripe retries anything else, and
// the work must not depend on how long Stripe waits.
func (s *Service) stripeWebhook() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.configured(); err != nil {
			return err
		}
		payload, err := httpx.ReadBody(r)
		if err != nil {
			return err
		}
		ev, err := webhook.ConstructEventWithOptions(payload, r.Header.Get("Stripe-Signature"), s.cfg.StripeWebhookSecret,
			webhook.ConstructEventOptions{Tolerance: webhookTolerance, IgnoreAPIVersionMismatch: true})
		if err != nil {
			return apperr.Wrap(err, apperr.ErrInvalid, "the Stripe-Signature header does not verify this body with STRIPE_WEBHOOK_SECRET, or is older than 5 minutes")
		}
		if ev.ID == "" || ev.Type == "" {
			return apperr.New(apperr.ErrInvalid, "the event has no id or type")
		}
		err = s.db.Transact(r.Context(), func(tx *database.Tx) error {
			fresh, err := insertEvent(r.Context(), tx, ev.ID, string(ev.Type), ev.Created, payload)
			if err != nil || !fresh {
				return err // a duplicate delivery: stored and queued the first time
			}
			return s.jobs.InsertTx(r.Context(), tx, EventArgs{EventID: ev.ID}, nil)
		})
		if err != nil {
			return fmt.Errorf("store stripe event %s: %w", ev.ID, err)
		}
		httpx.Encode(w, http.StatusOK, map[string]bool{"received": true})
		return nil
	})
}

// EventArgs processes one stored Stripe event.
type EventArgs struct {
	EventID string `json:"event_id"`
}

// Kind identifies the job; it is stored with every queued job, so it must
// never change.
func (EventArgs) Kind() string { return "billing.stripe_event" }

type eventWorker struct {
	river.WorkerDefaults[EventArgs]
	s *Service
}

// Work brings local state up to date with one event. It is safe to run
// twice: a processed event is skipped, and every write is an upsert that
// keeps the more recent version, or MarkPaid, which is idempotent.
func (w *eventWorker) Work(ctx context.Context, job *river.Job[EventArgs]) error {
	payload, processed, err := eventPayload(ctx, w.s.db, job.Args.EventID)
	if err != nil {
		return err
	}
	if processed {
		return nil
	}
	var ev stripe.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return river.JobCancel(fmt.Errorf("event %s: %w", job.Args.EventID, err))
	}
	if err := w.s.apply(ctx, &ev); errors.Is(err, errMalformed) {
		// No retry can mend it: record it as done, and say why.
		return river.JobCancel(errors.Join(fmt.Errorf("event %s (%s): %w", ev.ID, ev.Type, err), markProcessed(ctx, w.s.db, ev.ID)))
	} else if err != nil {
		return fmt.Errorf("event %s (%s): %w", ev.ID, ev.Type, err)
	}
	return markProcessed(ctx, w.s.db, ev.ID)
}

// errMalformed marks an event whose object billing cannot use: not the
// shape its type promises, or values out of any sane range.
var errMalformed = errors.New("malformed Stripe object")

// apply brings local state up to date with ev. Events of other types are
// stored and ignored.
func (s *Service) apply(ctx context.Context, ev *stripe.Event) error {
	if ev.Data == nil {
		return nil
	}
	// An event dated in the future would outrank every later one, and the
	// reconcile's fetches, for as long as it is ahead.
	version := min(ev.Created, time.Now().Add(webhookTolerance).Unix())
	switch ev.Type {
	case stripe.EventTypeCheckoutSessionCompleted, stripe.EventTypeCheckoutSessionAsyncPaymentSucceeded:
		return handle(ctx, ev, version, s.checkoutCompleted)
	case stripe.EventTypeCustomerSubscriptionCreated, stripe.EventTypeCustomerSubscriptionUpdated,
		stripe.EventTypeCustomerSubscriptionDeleted, stripe.EventTypeCustomerSubscriptionPaused,
		stripe.EventTypeCustomerSubscriptionResumed:
		return handle(ctx, ev, version, s.recordSubscription)
	case stripe.EventTypeInvoiceCreated, stripe.EventTypeInvoiceFinalized, stripe.EventTypeInvoicePaid,
		stripe.EventTypeInvoicePaymentFailed, stripe.EventTypeInvoicePaymentSucceeded, stripe.EventTypeInvoiceUpdated,
		stripe.EventTypeInvoiceVoided, stripe.EventTypeInvoiceMarkedUncollectible:
		return handle(ctx, ev, version, s.recordInvoice)
	}
	return nil
}

// handle decodes ev's object as a T and passes it to fn; an object that is
// no T is errMalformed.
func handle[T any](ctx context.Context, ev *stripe.Event, version int64, fn func(context.Context, *T, int64) error) error {
	var obj T
	if err := json.Unmarshal(ev.Data.Raw, &obj); err != nil {
		return fmt.Errorf("%w: %w", errMalformed, err)
	}
	return fn(ctx, &obj, version)
}

// checkoutCompleted marks a paid order paid, or records the subscription a
// checkout created.
func (s *Service) checkoutCompleted(ctx context.Context, sess *stripe.CheckoutSession, version int64) error {
	switch sess.Mode {
	case stripe.CheckoutSessionModePayment:
		orderID := sess.Metadata["order_id"]
		if orderID == "" || sess.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid {
			return nil // not one of our orders, or paid later (async_payment_succeeded)
		}
		ref := sess.ID
		if sess.PaymentIntent != nil && sess.PaymentIntent.ID != "" {
			ref = sess.PaymentIntent.ID
		}
		// The metadata names the order, but only the amount proves it was
		// paid for: a session made elsewhere (a payment link, the
		// dashboard) could carry any order's ID.
		o, err := s.orderLookup(ctx, sess.Metadata["user_id"], orderID)
		if err == nil && (sess.AmountTotal != o.TotalAmount || !strings.EqualFold(string(sess.Currency), o.Currency)) {
			err = apperr.Errorf(apperr.ErrConflict, "paid %d %s, the order's total is %d %s", sess.AmountTotal, sess.Currency, o.TotalAmount, o.Currency)
		}
		if err == nil {
			err = s.orderPaid(ctx, orderID, ref)
		}
		if errors.Is(err, apperr.ErrConflict) || errors.Is(err, apperr.ErrNotFound) {
			// Cancelled or gone while its payment went through, or paid
			// a different amount: the money must go back, which is a
			// person's decision.
			s.logger.LogAttrs(ctx, slog.LevelWarn, "payment for an order that cannot be paid: refund it in Stripe",
				slog.String("order_id", orderID), slog.String("payment", ref), slog.String("err", err.Error()))
			return nil
		}
		return err
	case stripe.CheckoutSessionModeSubscription:
		if sess.Subscription == nil || sess.Subscription.ID == "" {
			return nil
		}
		// The subscription's own events follow, but not necessarily
		// before the user comes back from Checkout: fetch it now.
		var sub *stripe.Subscription
		err := s.callStripe(ctx, "retrieve subscription", func(ctx context.Context) (err error) {
			sub, err = s.stripe.V1Subscriptions.Retrieve(ctx, sess.Subscription.ID, nil)
			return err
		})
		if err != nil {
			return err
		}
		return s.recordSubscription(ctx, sub, version)
	}
	return nil
}

// recordSubscription stores sub as of version, if its customer is one of
// ours.
func (s *Service) recordSubscription(ctx context.Context, sub *stripe.Subscription, version int64) error {
	if sub.Customer == nil {
		return nil
	}
	userID, err := userOfCustomer(ctx, s.db, sub.Customer.ID)
	if err != nil || userID == "" {
		return err
	}
	row := Subscription{
		ID: sub.ID, UserID: userID, Status: string(sub.Status),
		CancelAtPeriodEnd: sub.CancelAtPeriodEnd, Version: version,
	}
	if it := s.planItem(sub); it != nil {
		if it.Price != nil {
			row.PriceID = it.Price.ID
		}
		if it.CurrentPeriodEnd > 0 {
			t := time.Unix(it.CurrentPeriodEnd, 0).UTC()
			row.CurrentPeriodEnd = &t
		}
	}
	return upsertSubscription(ctx, s.db, row)
}

// planItem returns the item of sub whose price is a plan's, or its first
// item if none is (an add-on may come before the plan); nil if it has none.
func (s *Service) planItem(sub *stripe.Subscription) *stripe.SubscriptionItem {
	if sub.Items == nil || len(sub.Items.Data) == 0 {
		return nil
	}
	for _, it := range sub.Items.Data {
		if it.Price == nil {
			continue
		}
		if _, ok := s.planOfPrice(it.Price.ID); ok {
			return it
		}
	}
	return sub.Items.Data[0]
}

// recordInvoice stores inv as of version, if its customer is one of ours.
func (s *Service) recordInvoice(ctx context.Context, inv *stripe.Invoice, version int64) error {
	if inv.Customer == nil || inv.ID == "" {
		return nil
	}
	userID, err := userOfCustomer(ctx, s.db, inv.Customer.ID)
	if err != nil || userID == "" {
		return err
	}
	if err := checkInvoice(inv); err != nil {
		return fmt.Errorf("%w: invoice %s: %w", errMalformed, inv.ID, err)
	}
	return upsertInvoice(ctx, s.db, Invoice{
		ID: inv.ID, UserID: userID, Number: inv.Number, Status: string(inv.Status),
		Currency: strings.ToUpper(string(inv.Currency)), AmountDue: inv.AmountDue, AmountPaid: inv.AmountPaid,
		HostedInvoiceURL: inv.HostedInvoiceURL, CreatedAt: time.Unix(inv.Created, 0).UTC(), Version: version,
	})
}

// checkInvoice refuses values that only a bug or a forged event could
// carry, before they reach a client: an invoice shows its currency, amounts,
// number and link as stored.
func checkInvoice(inv *stripe.Invoice) error {
	cur := string(inv.Currency)
	switch {
	case len(cur) != 3 || strings.Trim(strings.ToLower(cur), "abcdefghijklmnopqrstuvwxyz") != "":
		return fmt.Errorf("currency %q", cur)
	case inv.AmountDue < 0 || inv.AmountPaid < 0:
		return fmt.Errorf("negative amount")
	case inv.Created < 0 || inv.Created > maxUnix:
		return fmt.Errorf("created %d", inv.Created)
	case inv.HostedInvoiceURL != "" && !strings.HasPrefix(inv.HostedInvoiceURL, "https://"):
		return fmt.Errorf("hosted invoice URL not https")
	case !printable(inv.ID+inv.Number+inv.HostedInvoiceURL) || len(inv.Number) > 255 || len(inv.HostedInvoiceURL) > 2048:
		return fmt.Errorf("id, number or URL not printable ASCII of a sane length")
	}
	return nil
}

// maxUnix is the last second of year 9999, the last a JSON time holds.
const maxUnix = 253402300799
