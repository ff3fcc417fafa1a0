package billing_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/app/apptest"
)

// The attacks of the review of the billing service, each a test.

// Another active subscription, to a price that is no plan's (an add-on
// sold separately), does not hide the pro one.
func TestOtherSubscriptionKeepsPlan(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	u := b.NewUser(t, "two@example.com")
	cus := b.customer(t, u)
	b.deliver(t, event("customer.subscription.created", time.Now().Add(-time.Minute), subscription("sub_pro", cus, proPrice, "active", time.Now().Add(time.Hour))))
	b.WaitJobs(t, "billing.stripe_event", 1)
	b.deliver(t, event("customer.subscription.created", time.Now(), subscription("sub_news", cus, "price_newsletter", "active", time.Now().Add(time.Hour))))
	b.WaitJobs(t, "billing.stripe_event", 2)
	if got := b.subscriptionOf(t, u); plan(got) != "pro" || got["subscription_id"] != "sub_pro" {
		t.Errorf("with a newsletter subscription besides: %v, want pro from sub_pro", got)
	}
}

// Stripe sends a subscription's "created" (incomplete) and "updated"
// (active) in the same second; processed in the other order, the
// subscription stays active.
func TestSameSecondEventsDoNotRollBack(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	u := b.NewUser(t, "tie@example.com")
	cus := b.customer(t, u)
	at := time.Now()
	b.deliver(t, event("customer.subscription.updated", at, subscription("sub_tie", cus, proPrice, "active", at.Add(time.Hour))))
	b.WaitJobs(t, "billing.stripe_event", 1)
	b.deliver(t, event("customer.subscription.created", at, subscription("sub_tie", cus, proPrice, "incomplete", at.Add(time.Hour))))
	b.WaitJobs(t, "billing.stripe_event", 2)
	if got := b.subscriptionOf(t, u); got["status"] != "active" || plan(got) != "pro" {
		t.Errorf("after a same-second created event: %v, want active on pro", got)
	}
}

// An event dated years ahead outranks later events only up to the
// webhook's tolerance: a cancellation a minute later still applies.
func TestFutureEventDoesNotFreeze(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	u := b.NewUser(t, "future@example.com")
	cus := b.customer(t, u)
	b.deliver(t, event("customer.subscription.updated", time.Now().AddDate(10, 0, 0), subscription("sub_fut", cus, proPrice, "active", time.Now().Add(time.Hour))))
	b.WaitJobs(t, "billing.stripe_event", 1)
	b.deliver(t, event("customer.subscription.deleted", time.Now().Add(6*time.Minute), subscription("sub_fut", cus, proPrice, "canceled", time.Now())))
	b.WaitJobs(t, "billing.stripe_event", 2)
	if got := b.subscriptionOf(t, u); got["status"] != "canceled" {
		t.Errorf("after a future-dated event then a cancellation: %v, want canceled", got)
	}
}

// An invoice that no real Stripe would send (a control-character currency,
// a negative amount, year 10000, a javascript: link) or an object of the
// wrong shape is stored nowhere and not retried, and the invoice list keeps
// working.
func TestMalformedObjectsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	u := b.NewUser(t, "forged@example.com")
	cus := b.customer(t, u)
	good := func() map[string]any {
		return map[string]any{"id": "in_ok", "object": "invoice", "customer": cus, "number": "RS-1", "status": "paid",
			"currency": "eur", "amount_due": 100, "amount_paid": 100, "hosted_invoice_url": "https://invoice.stripe.com/i/x", "created": time.Now().Unix()}
	}
	bad := []map[string]any{}
	for k, v := range map[string]any{
		"currency": "\u0007\u001b[31m", "amount_paid": -500, "created": int64(253402300800),
		"hosted_invoice_url": "javascript:alert(1)", "number": "RS\u202e1",
	} {
		inv := good()
		inv["id"], inv[k] = "in_bad_"+k, v
		bad = append(bad, inv)
	}
	bad = append(bad, map[string]any{"id": 5, "customer": cus}) // not an invoice's shape
	for _, inv := range bad {
		b.deliver(t, event("invoice.paid", time.Now(), inv))
	}
	b.deliver(t, event("invoice.paid", time.Now(), good()))
	deadline := time.Now().Add(30 * time.Second)
	for b.Count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'billing.stripe_event' AND state IN ('completed', 'cancelled')`) < len(bad)+1 {
		if time.Now().After(deadline) {
			t.Fatalf("event jobs not finished after 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'billing.stripe_event' AND state = 'cancelled'`); n != len(bad) {
		t.Errorf("%d jobs cancelled, want the %d malformed ones, none left retrying", n, len(bad))
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM stripe_events WHERE processed_at IS NULL`); n != 0 {
		t.Errorf("%d events left unprocessed, which the clean-up would keep forever", n)
	}
	page := b.Want(t, http.StatusOK, "GET", "/v1/billing/invoices", u.Access, nil)
	if data := page["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != "in_ok" {
		t.Errorf("invoices: %v, want only in_ok", page)
	}
}

// An account with a live subscription cannot be deleted (the card would go
// on being charged with nobody to cancel it); once cancelled, it can.
func TestDeleteAccountWithSubscription(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	u := b.NewUser(t, "leaving@example.com")
	cus := b.customer(t, u)
	b.deliver(t, event("customer.subscription.created", time.Now().Add(-time.Minute), subscription("sub_leave", cus, proPrice, "active", time.Now().Add(time.Hour))))
	b.WaitJobs(t, "billing.stripe_event", 1)
	body := map[string]string{"password": apptest.UserPassword}
	if r := b.Call(t, "DELETE", "/v1/me", u.Access, body); r.Status != http.StatusConflict {
		t.Fatalf("delete with an active subscription: got %d %v, want 409", r.Status, r.Body)
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM users WHERE id = $1`, u.ID); n != 1 {
		t.Fatalf("the refused deletion deleted the account")
	}
	b.deliver(t, event("customer.subscription.deleted", time.Now(), subscription("sub_leave", cus, proPrice, "canceled", time.Now())))
	b.WaitJobs(t, "billing.stripe_event", 2)
	b.Want(t, http.StatusNoContent, "DELETE", "/v1/me", u.Access, body)
}

// At the plan's limit, retrying an order that was made, with its
// Idempotency-Key, answers that order once the key's 24 h record is gone,
// not the limit.
func TestIdempotentRetryAtLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	u := b.NewUser(t, "retry@example.com")
	var first map[string]any
	for i := range freeLimit {
		r := b.CallHeader(t, "POST", "/v1/orders", http.Header{"Authorization": {"Bearer " + u.Access}, "Idempotency-Key": {"k" + string(rune('0'+i))}}, newOrder())
		if r.Status != http.StatusCreated {
			t.Fatalf("order %d: %d %v", i, r.Status, r.Body)
		}
		if i == 0 {
			first = r.Body
		}
	}
	if _, err := b.DB.Exec(t.Context(), `DELETE FROM idempotency_keys`); err != nil { // as after 24 h
		t.Fatal(err)
	}
	r := b.CallHeader(t, "POST", "/v1/orders", http.Header{"Authorization": {"Bearer " + u.Access}, "Idempotency-Key": {"k0"}}, newOrder())
	if r.Status != http.StatusCreated || r.Body["id"] != first["id"] {
		t.Errorf("retry of the first order at the limit: got %d %v, want 201 with %v", r.Status, r.Body, first["id"])
	}
	r = b.CallHeader(t, "POST", "/v1/orders", http.Header{"Authorization": {"Bearer " + u.Access}, "Idempotency-Key": {"new"}}, newOrder())
	if r.Status != http.StatusPaymentRequired {
		t.Errorf("a new order at the limit: got %d, want 402", r.Status)
	}
}

// An access token outlives a logout and the deletion of its account. A
// Stripe page takes or changes payment, so opening one needs the login and
// the account still live: a deleted account could otherwise start a
// subscription that nobody can log in to cancel. Found by attacking the
// binary.
func TestStripePagesNeedLiveLogin(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	gone := b.NewUser(t, "gone@example.com")
	out := b.NewUser(t, "out@example.com")
	order := b.Want(t, http.StatusCreated, "POST", "/v1/orders", out.Access, newOrder())["id"].(string)
	b.Want(t, http.StatusNoContent, "DELETE", "/v1/me", gone.Access, map[string]string{"password": apptest.UserPassword})
	b.Want(t, http.StatusNoContent, "POST", "/v1/auth/logout", out.Access, nil)

	for _, u := range []apptest.User{gone, out} {
		for _, path := range []string{"/v1/billing/checkout-session", "/v1/billing/portal-session", "/v1/billing/orders/" + order + "/checkout-session"} {
			if r := b.Call(t, "POST", path, u.Access, nil); r.Status != http.StatusUnauthorized {
				t.Errorf("%s with the token of %s: got %d %v, want 401", path, u.Email, r.Status, r.Body)
			}
		}
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM billing_customers`); n != 0 {
		t.Errorf("got %d Stripe customers made for ended logins, want 0", n)
	}
}
