package billing

import (
	"context"
	"slices"
	"time"
)

// The plans. A user is on the free plan unless a subscription to the pro
// plan's price entitles them to it.
const (
	PlanFree = "free"
	PlanPro  = "pro"
)

// Plan is one plan as GET /v1/billing/plans lists it.
type Plan struct {
	ID   string
	Name string
	// PriceID is the Stripe price a subscription to the plan has; "" for
	// the free plan.
	PriceID string
	// OrdersPerMonth is how many orders a user of the plan may create per
	// calendar month (UTC); 0 means no limit.
	OrdersPerMonth int
}

// plans returns the plans cfg configures, free first.
func plans(cfg *Config) []Plan {
	return []Plan{
		{ID: PlanFree, Name: "Free", OrdersPerMonth: cfg.FreeOrdersPerMonth},
		{ID: PlanPro, Name: "Pro", PriceID: cfg.ProPriceID, OrdersPerMonth: cfg.ProOrdersPerMonth},
	}
}

// Plans returns the plans, free first.
func (s *Service) Plans() []Plan { return slices.Clone(s.plans) }

// planOfPrice returns the plan a subscription to priceID gives, and false
// for a price that is none of ours.
func (s *Service) planOfPrice(priceID string) (Plan, bool) {
	for _, p := range s.plans {
		if p.PriceID != "" && p.PriceID == priceID {
			return p, true
		}
	}
	return Plan{}, false
}

// Entitlements is what a user's plan allows.
type Entitlements struct {
	Plan string // PlanFree or PlanPro
	// OrdersPerMonth is how many orders the user may create per calendar
	// month (UTC); 0 means no limit.
	OrdersPerMonth int
	// Upgrade says how to lift the limit; "" if there is no higher plan.
	Upgrade string
}

// upgradeHint is what the api service tells a free user at the limit.
const upgradeHint = "subscribe to the pro plan: POST /v1/billing/checkout-session returns a Stripe Checkout URL"

// Entitlements returns what userID's plan allows. With billing off nothing
// is limited. A subscription entitles its user while active or trialing,
// and while past due for BILLING_GRACE_PERIOD from the first failed
// payment.
func (s *Service) Entitlements(ctx context.Context, userID string) (Entitlements, error) {
	if !s.cfg.Enabled() {
		return Entitlements{Plan: PlanFree}, nil
	}
	_, p, _, err := s.current(ctx, userID)
	if err != nil {
		return Entitlements{}, err
	}
	e := Entitlements{Plan: p.ID, OrdersPerMonth: p.OrdersPerMonth}
	if p.ID == PlanFree {
		e.Upgrade = upgradeHint
	}
	return e, nil
}

// current returns the subscription that speaks for userID and the plan it
// gives now: the most recent one that entitles to a plan, else the most
// recent one to a plan's price (lapsed, cancelled), with the free plan; ok
// is false if userID never subscribed to a plan. Subscriptions to prices
// that are no plan's (an add-on sold separately) are not looked at.
func (s *Service) current(ctx context.Context, userID string) (sub Subscription, p Plan, ok bool, err error) {
	subs, err := subscriptionsOf(ctx, s.db, userID)
	if err != nil {
		return Subscription{}, Plan{}, false, err
	}
	free, t := s.plans[0], time.Now()
	for _, c := range subs {
		if plan, isPlan := s.planOfPrice(c.PriceID); isPlan && s.entitles(c, t) {
			return c, plan, true, nil
		}
	}
	for _, c := range subs {
		if _, isPlan := s.planOfPrice(c.PriceID); isPlan {
			return c, free, true, nil
		}
	}
	return Subscription{}, free, false, nil
}

// entitles reports whether sub gives its plan at t.
func (s *Service) entitles(sub Subscription, t time.Time) bool {
	switch sub.Status {
	case "active", "trialing":
		return true
	case "past_due":
		return sub.PastDueSince != nil && t.Before(sub.PastDueSince.Add(s.cfg.GracePeriod))
	}
	return false
}
