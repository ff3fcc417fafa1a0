package billing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rightsize/rightsize/internal/app/apptest"
	"github.com/rightsize/rightsize/internal/platform/resilience"
	"github.com/rightsize/rightsize/internal/platform/testkit/stripemock"
)

// The acceptance: with Stripe pointed at a server that hangs, the
// first calls time out, the breaker opens, later calls fail in well under
// the timeout without reaching Stripe, and order creation keeps working.
func TestStripeHangingOpensBreaker(t *testing.T) {
	t.Parallel()
	// A refused call must answer in under half the timeout: 500 ms leaves a
	// loaded -race machine ample room for a call that never leaves the
	// process, and is still well under the 1 s each timed-out call takes.
	const timeout = time.Second
	const fastBound = timeout / 2

	var hits atomic.Int64
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	// Registered before setup, so it runs after rightsize has stopped.
	t.Cleanup(func() {
		close(release)
		hang.Close()
	})
	b := setup(t, map[string]string{
		"STRIPE_API_URL":             hang.URL,
		"OUTBOUND_TIMEOUT":           timeout.String(),
		"PLAN_FREE_ORDERS_PER_MONTH": "0",
	})
	u := b.NewUser(t, "hang@example.com")

	checkout := func() (apptest.Response, time.Duration) {
		t.Helper()
		start := time.Now()
		r := b.Call(t, "POST", "/v1/billing/checkout-session", u.Access, nil)
		took := time.Since(start)
		if r.Status != http.StatusServiceUnavailable {
			t.Fatalf("checkout: got %d %v, want 503", r.Status, r.Body)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("checkout: got Content-Type %q, want application/problem+json", ct)
		}
		return r, took
	}

	// Each of the first calls reaches the hanging server and gives up at
	// the timeout; the fifth consecutive failure opens the breaker.
	for i := 1; i <= resilience.DefaultMaxFailures; i++ {
		r, took := checkout()
		if d, _ := r.Body["detail"].(string); !strings.Contains(d, "Stripe is unavailable") {
			t.Errorf("call %d: got detail %q, want it to say Stripe is unavailable", i, d)
		}
		if got := hits.Load(); got != int64(i) {
			t.Fatalf("call %d: the hanging server got %d requests, want %d", i, got, i)
		}
		// At least the timeout (the deadline starts after the request
		// arrives), and well short of the 5 s default: OUTBOUND_TIMEOUT
		// is what bounded it.
		if took < timeout || took > 4*timeout {
			t.Errorf("call %d took %v, want from %v to %v", i, took, timeout, 4*timeout)
		}
	}
	if got := metric(t, b.Server, "circuit_breaker_state", "stripe"); got != float64(resilience.StateOpen) {
		t.Fatalf(`circuit_breaker_state{name="stripe"}: got %v, want %d (open)`, got, resilience.StateOpen)
	}

	// Open: refused at once, without a request to Stripe.
	const refused = 3
	for i := range refused {
		r, took := checkout()
		if took >= fastBound {
			t.Errorf("refused call %d took %v, want under %v", i+1, took, fastBound)
		}
		if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 {
			t.Errorf("refused call %d: got Retry-After %q, want a positive number of seconds", i+1, r.Header.Get("Retry-After"))
		}
		if d, _ := r.Body["detail"].(string); !strings.Contains(d, "Stripe") {
			t.Errorf("refused call %d: got detail %q, want it to name Stripe", i+1, d)
		}
	}
	if got := hits.Load(); got != resilience.DefaultMaxFailures {
		t.Errorf("the hanging server got %d requests, want %d: the open breaker let some through", got, resilience.DefaultMaxFailures)
	}
	if got := metric(t, b.Server, "circuit_breaker_rejected_total", "stripe"); got != refused {
		t.Errorf(`circuit_breaker_rejected_total{name="stripe"}: got %v, want %d`, got, refused)
	}
	if got := metric(t, b.Server, "circuit_breaker_state", "stripe"); got != float64(resilience.StateOpen) {
		t.Errorf(`circuit_breaker_state{name="stripe"}: got %v, want %d (open)`, got, resilience.StateOpen)
	}

	// Nothing else is affected.
	for range 3 {
		start := time.Now()
		b.Want(t, http.StatusCreated, "POST", "/v1/orders", u.Access, newOrder())
		if took := time.Since(start); took >= fastBound {
			t.Errorf("order creation took %v with Stripe down, want under %v", took, fastBound)
		}
	}
	b.Want(t, http.StatusOK, "GET", "/v1/me", u.Access, nil)
	// Billing's local reads do not call Stripe either.
	b.Want(t, http.StatusOK, "GET", "/v1/billing/subscription", u.Access, nil)
	if got := hits.Load(); got != resilience.DefaultMaxFailures {
		t.Errorf("the hanging server got %d requests, want %d", got, resilience.DefaultMaxFailures)
	}
}

// Without STRIPE_SECRET_KEY every billing route says billing is not
// configured, and the rest of rightsize runs without any plan limit.
func TestBillingNotConfigured(t *testing.T) {
	t.Parallel()
	b := apptest.Start(t, map[string]string{"PLAN_FREE_ORDERS_PER_MONTH": "2"})
	u := b.NewUser(t, "nobilling@example.com")

	// More orders than the free plan's limit would allow with billing on.
	var orderID string
	for i := range 5 {
		o := b.Want(t, http.StatusCreated, "POST", "/v1/orders", u.Access, newOrder())
		if i == 0 {
			orderID = o["id"].(string)
		}
	}

	for _, tc := range []struct {
		method, path string
		header       http.Header
		body         any
	}{
		{"GET", "/v1/billing/plans", nil, nil},
		{"GET", "/v1/billing/subscription", bearer(u.Access), nil},
		{"GET", "/v1/billing/invoices", bearer(u.Access), nil},
		{"POST", "/v1/billing/checkout-session", bearer(u.Access), nil},
		{"POST", "/v1/billing/portal-session", bearer(u.Access), nil},
		{"POST", "/v1/billing/orders/" + orderID + "/checkout-session", bearer(u.Access), nil},
		{"POST", "/webhooks/stripe", http.Header{"Stripe-Signature": {"t=1,v1=00"}}, `{"id":"evt_1","type":"invoice.paid"}`},
	} {
		r := b.CallHeader(t, tc.method, tc.path, tc.header, tc.body)
		if r.Status != http.StatusServiceUnavailable {
			t.Errorf("%s %s: got %d %v, want 503", tc.method, tc.path, r.Status, r.Body)
			continue
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%s %s: got Content-Type %q, want application/problem+json", tc.method, tc.path, ct)
		}
		if d, _ := r.Body["detail"].(string); !strings.Contains(d, "billing is not configured") {
			t.Errorf("%s %s: got detail %q, want it to say billing is not configured", tc.method, tc.path, d)
		}
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM stripe_events`); n != 0 {
		t.Errorf("stripe_events: got %d rows, want 0", n)
	}
}

// Checkout, the portal and order payment through the HTTP API, against
// stripe-mock.
func TestCheckoutThroughStripeMock(t *testing.T) {
	t.Parallel()
	// Counting what reaches stripe-mock shows the customer is created once:
	// the table keeps its first row whatever happens, so its row alone
	// cannot.
	mock, err := url.Parse(stripemock.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls := map[string]int{}
	proxy := httputil.NewSingleHostReverseProxy(mock)
	counter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls[r.Method+" "+r.URL.Path]++
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(counter.Close) // after rightsize's, registered below
	stripeCalls := func(route string) int {
		mu.Lock()
		defer mu.Unlock()
		return calls[route]
	}
	b := setup(t, map[string]string{"STRIPE_API_URL": counter.URL})
	ada := b.NewUser(t, "ada@example.com")
	eve := b.NewUser(t, "eve@example.com")

	// Public, and lists both plans.
	plans, _ := b.Want(t, http.StatusOK, "GET", "/v1/billing/plans", "", nil)["data"].([]any)
	var ids []string
	for _, p := range plans {
		ids = append(ids, p.(map[string]any)["id"].(string))
	}
	if strings.Join(ids, ",") != "free,pro" {
		t.Errorf("plans: got %v, want [free pro]", ids)
	}

	sub := b.Want(t, http.StatusOK, "GET", "/v1/billing/subscription", ada.Access, nil)
	if plan, _ := sub["plan"].(map[string]any); plan["id"] != "free" {
		t.Errorf("subscription: got plan %v, want free", sub["plan"])
	}
	for _, k := range []string{"subscription_id", "status", "current_period_end"} {
		if v, ok := sub[k]; !ok || v != nil {
			t.Errorf("subscription: got %s %v (present: %v), want null", k, v, ok)
		}
	}
	if sub["cancel_at_period_end"] != false {
		t.Errorf("subscription: got cancel_at_period_end %v, want false", sub["cancel_at_period_end"])
	}

	// No billing account before checkout.
	b.Want(t, http.StatusConflict, "POST", "/v1/billing/portal-session", ada.Access, nil)

	wantURL(t, "checkout", b.Want(t, http.StatusCreated, "POST", "/v1/billing/checkout-session", ada.Access, nil))
	customer := customerID(t, b.Server, ada.ID)
	if !strings.HasPrefix(customer, "cus_") {
		t.Fatalf("customer: got %q, want cus_...", customer)
	}
	// stripe-mock makes a new random customer ID on each create: the same
	// one means it was not created again.
	wantURL(t, "second checkout", b.Want(t, http.StatusCreated, "POST", "/v1/billing/checkout-session", ada.Access, nil))
	if n := b.Count(t, `SELECT COUNT(*) FROM billing_customers WHERE user_id = $1`, ada.ID); n != 1 {
		t.Errorf("billing_customers of ada: got %d rows, want 1", n)
	}
	if got := customerID(t, b.Server, ada.ID); got != customer {
		t.Errorf("customer after a second checkout: got %s, want %s", got, customer)
	}
	if n := stripeCalls("POST /v1/customers"); n != 1 {
		t.Errorf("customers created at Stripe after two checkouts: got %d, want 1", n)
	}

	wantURL(t, "portal", b.Want(t, http.StatusCreated, "POST", "/v1/billing/portal-session", ada.Access, nil))
	b.Want(t, http.StatusConflict, "POST", "/v1/billing/portal-session", eve.Access, nil)

	order := b.Want(t, http.StatusCreated, "POST", "/v1/orders", ada.Access, newOrder())["id"].(string)
	pay := "/v1/billing/orders/" + order + "/checkout-session"
	wantURL(t, "order checkout", b.Want(t, http.StatusCreated, "POST", pay, ada.Access, nil))
	b.Want(t, http.StatusNotFound, "POST", pay, eve.Access, nil)
	b.Want(t, http.StatusNotFound, "POST", "/v1/billing/orders/ord_nosuchorder/checkout-session", ada.Access, nil)

	cancelled := b.Want(t, http.StatusCreated, "POST", "/v1/orders", ada.Access, newOrder())["id"].(string)
	b.Want(t, http.StatusOK, "POST", "/v1/orders/"+cancelled+"/cancel", ada.Access, nil)
	b.Want(t, http.StatusConflict, "POST", "/v1/billing/orders/"+cancelled+"/checkout-session", ada.Access, nil)

	// A read-scope key may not start a payment.
	key := b.NewAPIKey(t, ada, "read")
	b.Want(t, http.StatusForbidden, "POST", "/v1/billing/checkout-session", key, nil)

	// Three checkouts went through and nothing else created a customer or a
	// session: the refusals above refused before calling Stripe.
	for route, want := range map[string]int{
		"POST /v1/customers":               1,
		"POST /v1/checkout/sessions":       3,
		"POST /v1/billing_portal/sessions": 1,
	} {
		if got := stripeCalls(route); got != want {
			t.Errorf("%s at Stripe: got %d, want %d", route, got, want)
		}
	}
}

func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// wantURL fails the test unless body, a StripeSession, has an https URL.
func wantURL(tb testing.TB, what string, body map[string]any) {
	tb.Helper()
	if u, _ := body["url"].(string); !strings.HasPrefix(u, "https://") {
		tb.Errorf("%s: got url %q, want an https URL", what, u)
	}
}

// customerID returns userID's Stripe customer as stored.
func customerID(tb testing.TB, s *apptest.Server, userID string) string {
	tb.Helper()
	var id string
	if err := s.DB.QueryRow(context.Background(), `SELECT stripe_customer_id FROM billing_customers WHERE user_id = $1`, userID).Scan(&id); err != nil {
		tb.Fatalf("customer of %s: %v", userID, err)
	}
	return id
}

// metric returns the value of the gauge or counter family{name=breaker} in
// s's Prometheus registry, what /metrics serves.
func metric(tb testing.TB, s *apptest.Server, family, breaker string) float64 {
	tb.Helper()
	g, ok := s.App.Deps().Registry.(prometheus.Gatherer)
	if !ok {
		tb.Fatalf("the registry, a %T, cannot be gathered", s.App.Deps().Registry)
	}
	families, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != family {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "name" && l.GetValue() == breaker {
					if m.GetGauge() != nil {
						return m.GetGauge().GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	tb.Fatalf("no %s{name=%q} in the registry", family, breaker)
	return 0
}
