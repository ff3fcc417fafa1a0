package billing_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/app/apptest"
)

// A webhook whose signature is bad, missing or stale is a 400 problem that
// stores nothing and queues nothing.
func TestWebhookSignatureRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ev := event("customer.subscription.updated", time.Now(), subscription("sub_sig", "cus_sig", proPrice, "active", time.Now().Add(time.Hour)))

	wrongBody, wrongSig := sign(t, ev, "whsec_not_ours", time.Now())
	staleBody, staleSig := sign(t, ev, webhookSecret, time.Now().Add(-10*time.Minute))
	goodBody, goodSig := sign(t, ev, webhookSecret, time.Now())
	tampered := strings.Replace(goodBody, `"active"`, `"past_due"`, 1)
	for _, c := range []struct {
		name, body, sig string
	}{
		{"wrong secret", wrongBody, wrongSig},
		{"stale", staleBody, staleSig},
		{"missing", goodBody, ""},
		{"garbage", goodBody, "t=1,v1=00"},
		{"tampered body", tampered, goodSig},
	} {
		h := http.Header{}
		if c.sig != "" {
			h.Set("Stripe-Signature", c.sig)
		}
		r := b.CallHeader(t, "POST", "/webhooks/stripe", h, c.body)
		if r.Status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(r.Body["detail"]), "Stripe-Signature") {
			t.Errorf("%s: got %d %v, want 400 naming Stripe-Signature", c.name, r.Status, r.Body)
		}
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM stripe_events`); n != 0 {
		t.Errorf("stored %d events from refused deliveries, want 0", n)
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'billing.stripe_event'`); n != 0 {
		t.Errorf("queued %d jobs from refused deliveries, want 0", n)
	}
}

// The same event delivered twice is stored and processed once.
func TestWebhookDuplicateProcessedOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	u := b.NewUser(t, "dup@example.com")
	cus := b.customer(t, u)
	ev := event("customer.subscription.created", time.Now(), subscription("sub_dup", cus, proPrice, "active", time.Now().Add(720*time.Hour)))
	for i := range 3 {
		if r := b.deliver(t, ev); r.Status != http.StatusOK || r.Body["received"] != true {
			t.Fatalf("delivery %d: got %d %v, want 200 received", i+1, r.Status, r.Body)
		}
	}
	b.WaitJobs(t, "billing.stripe_event", 1)
	if n := b.Count(t, `SELECT COUNT(*) FROM stripe_events WHERE id = $1 AND processed_at IS NOT NULL`, ev["id"]); n != 1 {
		t.Errorf("event stored and processed %d times, want once", n)
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'billing.stripe_event'`); n != 1 {
		t.Errorf("%d processing jobs for one event delivered 3 times, want 1", n)
	}
	if sub := b.subscriptionOf(t, u); sub["status"] != "active" || plan(sub) != "pro" {
		t.Errorf("subscription after the event: %v, want active on pro", sub)
	}
}

func plan(sub map[string]any) any { return sub["plan"].(map[string]any)["id"] }

// A subscription becoming active lifts the free plan's order limit, an
// older event arriving after a newer one does not roll it back, and its
// deletion brings the limit back.
func TestSubscriptionLiftsOrderLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	u := b.NewUser(t, "limit@example.com")
	for range freeLimit {
		b.Want(t, http.StatusCreated, "POST", "/v1/orders", u.Access, newOrder())
	}
	wantLimited(t, b, u)

	cus := b.customer(t, u)
	t0 := time.Now().Add(-time.Hour)
	period := time.Now().Add(720 * time.Hour)
	b.deliver(t, event("customer.subscription.created", t0, subscription("sub_lift", cus, proPrice, "incomplete", period)))
	b.deliver(t, event("customer.subscription.updated", t0.Add(time.Minute), subscription("sub_lift", cus, proPrice, "active", period)))
	b.WaitJobs(t, "billing.stripe_event", 2)
	b.Want(t, http.StatusCreated, "POST", "/v1/orders", u.Access, newOrder())

	// Stripe retried an old event late: it is stored, processed, ignored.
	b.deliver(t, event("customer.subscription.updated", t0.Add(30*time.Second), subscription("sub_lift", cus, proPrice, "incomplete", period)))
	b.WaitJobs(t, "billing.stripe_event", 3)
	if sub := b.subscriptionOf(t, u); sub["status"] != "active" || plan(sub) != "pro" {
		t.Fatalf("after an older event: %v, want still active on pro", sub)
	}
	b.Want(t, http.StatusCreated, "POST", "/v1/orders", u.Access, newOrder())

	b.deliver(t, event("customer.subscription.deleted", t0.Add(2*time.Minute), subscription("sub_lift", cus, proPrice, "canceled", period)))
	b.WaitJobs(t, "billing.stripe_event", 4)
	if sub := b.subscriptionOf(t, u); sub["status"] != "canceled" || plan(sub) != "free" {
		t.Fatalf("after deletion: %v, want canceled, free plan", sub)
	}
	wantLimited(t, b, u)
}

// A past-due subscription keeps its plan through the grace period, and
// loses it after.
func TestPastDueGracePeriod(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		grace    string
		wantPlan string
	}{{"168h", "pro"}, {"1s", "free"}} {
		t.Run(c.grace, func(t *testing.T) {
			t.Parallel()
			b := setup(t, map[string]string{"BILLING_GRACE_PERIOD": c.grace})
			u := b.NewUser(t, "late@example.com")
			cus := b.customer(t, u)
			// Past due since a minute ago.
			b.deliver(t, event("customer.subscription.updated", time.Now().Add(-time.Minute),
				subscription("sub_late", cus, proPrice, "past_due", time.Now().Add(time.Hour))))
			b.WaitJobs(t, "billing.stripe_event", 1)
			if sub := b.subscriptionOf(t, u); plan(sub) != c.wantPlan || sub["status"] != "past_due" {
				t.Errorf("grace %s, past due for a minute: %v, want plan %s", c.grace, sub, c.wantPlan)
			}
		})
	}
}

// A completed payment marks its order paid exactly once, however often
// Stripe reports it.
func TestCompletedPaymentMarksOrderPaidOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	u := b.NewUser(t, "pay@example.com")
	o := b.Want(t, http.StatusCreated, "POST", "/v1/orders", u.Access, newOrder())
	id := o["id"].(string)
	b.Want(t, http.StatusCreated, "POST", "/v1/billing/orders/"+id+"/checkout-session", u.Access, nil)

	session := map[string]any{
		"id": "cs_test_pay", "object": "checkout.session", "mode": "payment", "payment_status": "paid", "status": "complete",
		"payment_intent": "pi_test_pay", "client_reference_id": u.ID, "amount_total": 1250, "currency": "eur",
		"metadata": map[string]any{"order_id": id, "user_id": u.ID},
	}
	first := event("checkout.session.completed", time.Now(), session)
	b.deliver(t, first)
	b.deliver(t, first)
	// The same payment reported again under another event ID.
	b.deliver(t, event("checkout.session.completed", time.Now(), session))
	b.WaitJobs(t, "billing.stripe_event", 2)

	got := b.Want(t, http.StatusOK, "GET", "/v1/orders/"+id, u.Access, nil)
	if got["status"] != "paid" || got["paid_at"] == nil {
		t.Fatalf("order after payment: %v, want paid", got)
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM orders WHERE id = $1 AND status = 'paid' AND payment_ref = 'pi_test_pay'`, id); n != 1 {
		t.Errorf("order paid by pi_test_pay: %d rows, want 1", n)
	}
	// Cancelling a paid order is refused: it stayed paid.
	if r := b.Call(t, "POST", "/v1/orders/"+id+"/cancel", u.Access, nil); r.Status != http.StatusConflict {
		t.Errorf("cancel a paid order: got %d %v, want 409", r.Status, r.Body)
	}
}

func newOrder() map[string]any {
	return map[string]any{"currency": "EUR", "items": []any{map[string]any{"sku": "BOOK", "name": "A book", "quantity": 1, "unit_amount": 1250}}}
}

// wantLimited fails unless u's next order is refused for the free plan's
// monthly limit, with the limit named and the way to upgrade.
func wantLimited(t *testing.T, b *testBundle, u apptest.User) {
	t.Helper()
	before := b.Count(t, `SELECT COUNT(*) FROM orders WHERE user_id = $1`, u.ID)
	r := b.Call(t, "POST", "/v1/orders", u.Access, newOrder())
	limit, _ := r.Body["limit"].(map[string]any)
	if r.Status != http.StatusPaymentRequired || limit["name"] != "orders_per_month" || limit["plan"] != "free" ||
		limit["allowed"] != float64(freeLimit) || !strings.Contains(fmt.Sprint(limit["upgrade"]), "/v1/billing/checkout-session") {
		t.Fatalf("order beyond the free plan's limit: got %d %v, want 402 naming orders_per_month and how to upgrade", r.Status, r.Body)
	}
	if after := b.Count(t, `SELECT COUNT(*) FROM orders WHERE user_id = $1`, u.ID); after != before {
		t.Fatalf("a refused order was written: %d orders, want %d", after, before)
	}
}

// Invoices come from Stripe's events, newest first, and an older event
// does not roll one back.
func TestInvoicesFromEvents(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	u := b.NewUser(t, "invoices@example.com")
	other := b.NewUser(t, "other@example.com")
	cus := b.customer(t, u)
	b.customer(t, other)
	invoice := func(id, status string, paid int64, created time.Time) map[string]any {
		return map[string]any{
			"id": id, "object": "invoice", "customer": cus, "number": "RS-" + id, "status": status, "currency": "eur",
			"amount_due": 1900, "amount_paid": paid, "hosted_invoice_url": "https://invoice.stripe.com/i/" + id, "created": created.Unix(),
		}
	}
	t0 := time.Now().Add(-time.Hour)
	b.deliver(t, event("invoice.finalized", t0, invoice("in_a", "open", 0, t0)))
	b.deliver(t, event("invoice.paid", t0.Add(time.Minute), invoice("in_a", "paid", 1900, t0)))
	b.deliver(t, event("invoice.finalized", t0.Add(2*time.Minute), invoice("in_b", "open", 0, t0.Add(2*time.Minute))))
	b.WaitJobs(t, "billing.stripe_event", 3)
	b.deliver(t, event("invoice.finalized", t0.Add(30*time.Second), invoice("in_a", "open", 0, t0))) // late
	b.WaitJobs(t, "billing.stripe_event", 4)

	page := b.Want(t, http.StatusOK, "GET", "/v1/billing/invoices?limit=1", u.Access, nil)
	data := page["data"].([]any)
	if len(data) != 1 || data[0].(map[string]any)["id"] != "in_b" || page["next_cursor"] == nil {
		t.Fatalf("first page: %v, want in_b and a cursor", page)
	}
	page = b.Want(t, http.StatusOK, "GET", "/v1/billing/invoices?limit=1&cursor="+page["next_cursor"].(string), u.Access, nil)
	data = page["data"].([]any)
	if len(data) != 1 || data[0].(map[string]any)["status"] != "paid" || data[0].(map[string]any)["currency"] != "EUR" || page["next_cursor"] != nil {
		t.Fatalf("second page: %v, want in_a still paid, in EUR, and no cursor", page)
	}
	if page := b.Want(t, http.StatusOK, "GET", "/v1/billing/invoices", other.Access, nil); len(page["data"].([]any)) != 0 {
		t.Errorf("another user's invoices: %v, want none", page)
	}
	if r := b.Call(t, "GET", "/v1/billing/invoices?status=paid", u.Access, nil); r.Status != http.StatusBadRequest {
		t.Errorf("unknown parameter: got %d, want 400", r.Status)
	}
}

// Reconcile repairs what a missed webhook left wrong: Stripe (stripe-mock,
// whose subscription list always holds one active subscription) says the
// subscription is active, the local row says canceled.
func TestReconcileRepairsDrift(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	u := b.NewUser(t, "drift@example.com")
	cus := b.customer(t, u)
	// The fixture's subscription, cancelled by an event whose reactivation
	// never arrived.
	const fixtureSub = "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"
	b.deliver(t, event("customer.subscription.deleted", time.Now().Add(-time.Hour), subscription(fixtureSub, cus, proPrice, "canceled", time.Now())))
	b.WaitJobs(t, "billing.stripe_event", 1)
	if n := b.Count(t, `SELECT COUNT(*) FROM billing_subscriptions WHERE id = $1 AND status = 'canceled'`, fixtureSub); n != 1 {
		t.Fatalf("the deleted event was not recorded")
	}
	if err := b.service().Reconcile(t.Context(), 100); err != nil {
		t.Fatal(err)
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM billing_subscriptions WHERE id = $1 AND user_id = $2 AND status = 'active'`, fixtureSub, u.ID); n != 1 {
		t.Errorf("after reconcile the subscription is not active as Stripe says")
	}
}

// A burst of creates at the limit cannot overshoot it: the count and the
// insert are serialised per user.
func TestOrderLimitHoldsUnderBurst(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	u := b.NewUser(t, "burst@example.com")
	const n = 12
	statuses := make(chan int, n)
	for range n {
		go func() {
			r, err := b.Do("POST", "/v1/orders", u.Access, newOrder())
			if err != nil {
				t.Error(err)
			}
			statuses <- r.Status
		}()
	}
	created := 0
	for range n {
		switch s := <-statuses; s {
		case http.StatusCreated:
			created++
		case http.StatusPaymentRequired:
		default:
			t.Errorf("status %d, want 201 or 402", s)
		}
	}
	if created != freeLimit || b.Count(t, `SELECT COUNT(*) FROM orders WHERE user_id = $1`, u.ID) != freeLimit {
		t.Errorf("%d of %d concurrent creates succeeded, want exactly the limit, %d", created, n, freeLimit)
	}
}

// A subscription whose first item is an add-on still gives the plan of the
// item priced as one.
func TestSubscriptionPlanItemNotFirst(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	u := b.NewUser(t, "addon@example.com")
	cus := b.customer(t, u)
	sub := subscription("sub_addon", cus, proPrice, "active", time.Now().Add(time.Hour))
	items := sub["items"].(map[string]any)
	items["data"] = append([]any{map[string]any{
		"id": "si_addon", "object": "subscription_item", "current_period_end": time.Now().Add(time.Hour).Unix(),
		"price": map[string]any{"id": "price_addon_seats", "object": "price"},
	}}, items["data"].([]any)...)
	b.deliver(t, event("customer.subscription.created", time.Now(), sub))
	b.WaitJobs(t, "billing.stripe_event", 1)
	if got := b.subscriptionOf(t, u); plan(got) != "pro" {
		t.Errorf("subscription with an add-on first: %v, want plan pro", got)
	}
}

// A payment whose amount or currency is not the order's total (a session
// made elsewhere naming the order) does not mark it paid.
func TestPaymentOfAnotherAmountLeavesOrderPending(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	u := b.NewUser(t, "cheap@example.com")
	id := b.Want(t, http.StatusCreated, "POST", "/v1/orders", u.Access, newOrder())["id"].(string)
	for i, paid := range []map[string]any{
		{"amount_total": 1, "currency": "eur"},
		{"amount_total": 1250, "currency": "jpy"},
		{}, // no amount at all
	} {
		session := map[string]any{
			"id": fmt.Sprintf("cs_test_cheap_%d", i), "object": "checkout.session", "mode": "payment", "payment_status": "paid",
			"status": "complete", "payment_intent": fmt.Sprintf("pi_test_cheap_%d", i),
			"metadata": map[string]any{"order_id": id, "user_id": u.ID},
		}
		for k, v := range paid {
			session[k] = v
		}
		b.deliver(t, event("checkout.session.completed", time.Now(), session))
	}
	b.WaitJobs(t, "billing.stripe_event", 3)
	if got := b.Want(t, http.StatusOK, "GET", "/v1/orders/"+id, u.Access, nil); got["status"] != "pending" {
		t.Errorf("order after payments of other amounts: %v, want still pending", got["status"])
	}
}
