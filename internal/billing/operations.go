package billing

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/stripe/stripe-go/v84"

	"github.com/rightsize/rightsize/internal/platform/apperr"
)

// customer returns userID's Stripe customer, creating it on first use. Two
// requests racing to create it send Stripe the same idempotency key, so
// Stripe makes one customer; the table keeps whichever row was stored
// first either way.
func (s *Service) customer(ctx context.Context, userID string) (string, error) {
	id, err := customerOf(ctx, s.db, userID)
	if err != nil || id != "" {
		return id, err
	}
	params := &stripe.CustomerCreateParams{Metadata: map[string]string{"user_id": userID}}
	params.SetIdempotencyKey("rightsize-customer-" + userID)
	var c *stripe.Customer
	err = s.callStripe(ctx, "create customer", func(ctx context.Context) (err error) {
		c, err = s.stripe.V1Customers.Create(ctx, params)
		return err
	})
	if err != nil {
		return "", err
	}
	if err := insertCustomer(ctx, s.db, userID, c.ID); err != nil {
		return "", err
	}
	return customerOf(ctx, s.db, userID)
}

// CheckoutSubscription returns the URL of a Stripe Checkout page where
// userID subscribes to the pro plan. A user whose subscription already
// entitles them gets an apperr.ErrConflict pointing to the portal.
func (s *Service) CheckoutSubscription(ctx context.Context, userID string) (string, error) {
	if err := s.configured(); err != nil {
		return "", err
	}
	sub, _, ok, err := s.current(ctx, userID)
	if err != nil {
		return "", err
	}
	if ok && live(sub) {
		return "", apperr.Errorf(apperr.ErrConflict,
			"you already have a subscription (%s): manage it with POST /v1/billing/portal-session", sub.Status)
	}
	meta := map[string]string{"user_id": userID}
	return s.checkout(ctx, userID, &stripe.CheckoutSessionCreateParams{
		Mode:             stripe.String(string(stripe.CheckoutSessionModeSubscription)),
		LineItems:        []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String(s.cfg.ProPriceID), Quantity: stripe.Int64(1)}},
		SuccessURL:       stripe.String(s.back("checkout", "success")),
		CancelURL:        stripe.String(s.back("checkout", "cancelled")),
		Metadata:         meta,
		SubscriptionData: &stripe.CheckoutSessionCreateSubscriptionDataParams{Metadata: meta},
	})
}

// CheckoutOrder returns the URL of a Stripe Checkout page where userID pays
// their pending order orderID. Another user's order and a missing one are
// the same apperr.ErrNotFound; an order no longer pending is an
// apperr.ErrConflict.
func (s *Service) CheckoutOrder(ctx context.Context, userID, orderID string) (string, error) {
	if err := s.configured(); err != nil {
		return "", err
	}
	o, err := s.orderLookup(ctx, userID, orderID)
	if err != nil {
		return "", err
	}
	if !o.Pending {
		return "", apperr.New(apperr.ErrConflict, "only a pending order can be paid")
	}
	if o.TotalAmount == 0 {
		return "", apperr.New(apperr.ErrConflict, "the order's total is zero: there is nothing to pay")
	}
	meta := map[string]string{"user_id": userID, "order_id": o.ID}
	return s.checkout(ctx, userID, &stripe.CheckoutSessionCreateParams{
		Mode: stripe.String(string(stripe.CheckoutSessionModePayment)),
		LineItems: []*stripe.CheckoutSessionCreateLineItemParams{{
			Quantity: stripe.Int64(1),
			PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripe.String(strings.ToLower(o.Currency)),
				UnitAmount:  stripe.Int64(o.TotalAmount),
				ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripe.String("Order " + o.ID)},
			},
		}},
		SuccessURL:        stripe.String(s.back("order", o.ID)),
		CancelURL:         stripe.String(s.back("order", o.ID)),
		Metadata:          meta,
		PaymentIntentData: &stripe.CheckoutSessionCreatePaymentIntentDataParams{Metadata: meta},
	})
}

// checkout creates the Stripe Checkout session params describes for userID,
// as their Stripe customer (made on first use), and returns its URL.
func (s *Service) checkout(ctx context.Context, userID string, params *stripe.CheckoutSessionCreateParams) (string, error) {
	customer, err := s.customer(ctx, userID)
	if err != nil {
		return "", err
	}
	params.Customer, params.ClientReferenceID = stripe.String(customer), stripe.String(userID)
	var sess *stripe.CheckoutSession
	err = s.callStripe(ctx, "create checkout session", func(ctx context.Context) (err error) {
		sess, err = s.stripe.V1CheckoutSessions.Create(ctx, params)
		return err
	})
	if err != nil {
		return "", err
	}
	return sess.URL, nil
}

// Portal returns the URL of userID's Stripe Customer Portal, where they
// manage their subscription, payment methods and invoices. A user who never
// went through checkout has nothing to manage: apperr.ErrConflict.
func (s *Service) Portal(ctx context.Context, userID string) (string, error) {
	if err := s.configured(); err != nil {
		return "", err
	}
	customer, err := customerOf(ctx, s.db, userID)
	if err != nil {
		return "", err
	}
	if customer == "" {
		return "", apperr.New(apperr.ErrConflict, "you have no billing account yet: subscribe first with POST /v1/billing/checkout-session")
	}
	var sess *stripe.BillingPortalSession
	err = s.callStripe(ctx, "create portal session", func(ctx context.Context) (err error) {
		sess, err = s.stripe.V1BillingPortalSessions.Create(ctx, &stripe.BillingPortalSessionCreateParams{
			Customer: stripe.String(customer), ReturnURL: stripe.String(s.returnURL),
		})
		return err
	})
	if err != nil {
		return "", err
	}
	return sess.URL, nil
}

// CheckDeletable refuses, with an apperr.ErrConflict, to let userID's
// account go while it has a live subscription to a plan: Stripe would go on
// charging a card whose owner can no longer log in to cancel.
func (s *Service) CheckDeletable(ctx context.Context, userID string) error {
	if !s.cfg.Enabled() {
		return nil
	}
	sub, _, ok, err := s.current(ctx, userID)
	if err != nil || !ok || !live(sub) {
		return err
	}
	return apperr.Errorf(apperr.ErrConflict,
		"the account has a %s subscription: cancel it first in the billing portal (POST /v1/billing/portal-session)", sub.Status)
}

// live reports whether sub can still charge or be used.
func live(sub Subscription) bool {
	return sub.Status != "canceled" && sub.Status != "incomplete_expired"
}

// SubscriptionState is a user's plan as billing knows it locally.
type SubscriptionState struct {
	Plan         Plan
	Subscription *Subscription // nil without one
}

// Subscription returns userID's plan and the subscription behind it, from
// the local state (no call to Stripe).
func (s *Service) Subscription(ctx context.Context, userID string) (SubscriptionState, error) {
	if err := s.configured(); err != nil {
		return SubscriptionState{}, err
	}
	sub, p, ok, err := s.current(ctx, userID)
	if err != nil {
		return SubscriptionState{}, err
	}
	st := SubscriptionState{Plan: p}
	if ok {
		st.Subscription = &sub
	}
	return st, nil
}

// Invoices returns up to limit of userID's invoices, newest first, after
// the position after (nil for the first page).
func (s *Service) Invoices(ctx context.Context, userID string, after *invoicePosition, limit int) ([]Invoice, error) {
	if err := s.configured(); err != nil {
		return nil, err
	}
	return listInvoices(ctx, s.db, userID, after, limit)
}

// back returns the return URL with key=value added to its query.
func (s *Service) back(key, value string) string {
	u, err := url.Parse(s.returnURL)
	if err != nil {
		panic(fmt.Sprintf("billing: return URL %q: %v", s.returnURL, err)) // checked by Config
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
