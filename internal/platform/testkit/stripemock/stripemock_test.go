package stripemock_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v84"
	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/rightsize/rightsize/internal/platform/testkit/stripemock"
)

func TestMain(m *testing.M) {
	defer stripemock.Stop()
	m.Run()
}

// recorder is an http.RoundTripper that keeps the requests it passes on.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recorder) last() *http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reqs[len(r.reqs)-1]
}

// newClient returns a stripe-go client that talks to url through rt, with no
// retries and no logging.
func newClient(url string, rt http.RoundTripper, retries *int64) *stripe.Client {
	return stripe.NewClient("sk_test_123", stripe.WithBackends(stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		URL:               stripe.String(url),
		HTTPClient:        &http.Client{Transport: rt, Timeout: 10 * time.Second},
		MaxNetworkRetries: retries,
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})))
}

func setup(t *testing.T) (*stripe.Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	return newClient(stripemock.Start(t), rec, stripe.Int64(0)), rec
}

func TestStartSharesOneServer(t *testing.T) {
	t.Parallel()
	url := stripemock.Start(t)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("Start: got %q, want http://127.0.0.1:PORT", url)
	}
	if again := stripemock.Start(t); again != url {
		t.Errorf("second Start: got %q, want %q", again, url)
	}
	resp, err := http.Get(url + "/v1/customers")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/customers without a key: got %d, want %d", resp.StatusCode, http.StatusUnauthorized)
	}
}

func TestCustomerCreate(t *testing.T) {
	t.Parallel()
	sc, rec := setup(t)
	params := &stripe.CustomerCreateParams{
		Email:    stripe.String("ada@example.com"),
		Metadata: map[string]string{"user_id": "u_1"},
	}
	params.SetIdempotencyKey("signup-u_1")
	cus, err := sc.V1Customers.Create(context.Background(), params)
	if err != nil {
		t.Fatalf("create customer: %v", err)
	}
	if !strings.HasPrefix(cus.ID, "cus_") {
		t.Errorf("ID: got %q, want cus_…", cus.ID)
	}
	// stripe-mock echoes scalar parameters but not metadata.
	if cus.Email != "ada@example.com" {
		t.Errorf("Email: got %q, want %q", cus.Email, "ada@example.com")
	}
	req := rec.last()
	if got := req.Header.Get("Idempotency-Key"); got != "signup-u_1" {
		t.Errorf("Idempotency-Key header: got %q, want %q", got, "signup-u_1")
	}
	if got := req.Header.Get("Stripe-Version"); got != stripe.APIVersion {
		t.Errorf("Stripe-Version header: got %q, want %q", got, stripe.APIVersion)
	}
}

func TestCheckoutSessionSubscription(t *testing.T) {
	t.Parallel()
	sc, _ := setup(t)
	params := &stripe.CheckoutSessionCreateParams{
		Mode:     stripe.String(string(stripe.CheckoutSessionModeSubscription)),
		Customer: stripe.String("cus_123"),
		LineItems: []*stripe.CheckoutSessionCreateLineItemParams{
			{Price: stripe.String("price_pro_monthly"), Quantity: stripe.Int64(1)},
		},
		SuccessURL:        stripe.String("https://app.example.com/billing/success?session_id={CHECKOUT_SESSION_ID}"),
		CancelURL:         stripe.String("https://app.example.com/billing"),
		ClientReferenceID: stripe.String("u_1"),
		Metadata:          map[string]string{"user_id": "u_1", "plan": "pro"},
		SubscriptionData: &stripe.CheckoutSessionCreateSubscriptionDataParams{
			Metadata: map[string]string{"user_id": "u_1"},
		},
	}
	params.SetIdempotencyKey("checkout-u_1-pro")
	s, err := sc.V1CheckoutSessions.Create(context.Background(), params)
	if err != nil {
		t.Fatalf("create checkout session: %v", err)
	}
	if !strings.HasPrefix(s.ID, "cs_") {
		t.Errorf("ID: got %q, want cs_…", s.ID)
	}
	if s.Mode != stripe.CheckoutSessionModeSubscription {
		t.Errorf("Mode: got %q, want %q", s.Mode, stripe.CheckoutSessionModeSubscription)
	}
	if s.ClientReferenceID != "u_1" {
		t.Errorf("ClientReferenceID: got %q, want %q", s.ClientReferenceID, "u_1")
	}
	if s.URL == "" {
		t.Error("URL: got empty, want the hosted page's URL")
	}
	t.Logf("session: id=%s url=%s customer=%v status=%s payment_status=%s metadata=%v",
		s.ID, s.URL, s.Customer, s.Status, s.PaymentStatus, s.Metadata)
}

func TestCheckoutSessionPayment(t *testing.T) {
	t.Parallel()
	sc, _ := setup(t)
	params := &stripe.CheckoutSessionCreateParams{
		Mode: stripe.String(string(stripe.CheckoutSessionModePayment)),
		LineItems: []*stripe.CheckoutSessionCreateLineItemParams{{
			PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:   stripe.String(string(stripe.CurrencyEUR)),
				UnitAmount: stripe.Int64(1999),
				ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{
					Name: stripe.String("Order o_1"),
				},
			},
			Quantity: stripe.Int64(1),
		}},
		SuccessURL:        stripe.String("https://app.example.com/orders/o_1?paid=1"),
		CancelURL:         stripe.String("https://app.example.com/orders/o_1"),
		ClientReferenceID: stripe.String("o_1"),
		Metadata:          map[string]string{"order_id": "o_1"},
		PaymentIntentData: &stripe.CheckoutSessionCreatePaymentIntentDataParams{
			Metadata: map[string]string{"order_id": "o_1"},
		},
	}
	s, err := sc.V1CheckoutSessions.Create(context.Background(), params)
	if err != nil {
		t.Fatalf("create checkout session: %v", err)
	}
	if s.Mode != stripe.CheckoutSessionModePayment {
		t.Errorf("Mode: got %q, want %q", s.Mode, stripe.CheckoutSessionModePayment)
	}
	t.Logf("session: id=%s url=%s currency=%s amount_total=%d", s.ID, s.URL, s.Currency, s.AmountTotal)
}

func TestCheckoutSessionRejectsUnknownParam(t *testing.T) {
	t.Parallel()
	sc, _ := setup(t)
	params := &stripe.CheckoutSessionCreateParams{Mode: stripe.String("subscription")}
	params.AddExtra("no_such_param", "1")
	_, err := sc.V1CheckoutSessions.Create(context.Background(), params)
	stripeErr, ok := errors.AsType[*stripe.Error](err)
	if !ok {
		t.Fatalf("create with an unknown param: got %v, want a *stripe.Error", err)
	}
	if stripeErr.HTTPStatusCode != http.StatusBadRequest || stripeErr.Type != stripe.ErrorTypeInvalidRequest {
		t.Errorf("got status %d type %q, want 400 %q", stripeErr.HTTPStatusCode, stripeErr.Type, stripe.ErrorTypeInvalidRequest)
	}
	if _, ok := errors.AsType[*stripe.InvalidRequestError](err); !ok {
		t.Errorf("errors.As *stripe.InvalidRequestError: got false for %v", err)
	}
	t.Logf("error: %v", err)
}

func TestBillingPortalSession(t *testing.T) {
	t.Parallel()
	sc, _ := setup(t)
	s, err := sc.V1BillingPortalSessions.Create(context.Background(), &stripe.BillingPortalSessionCreateParams{
		Customer:  stripe.String("cus_123"),
		ReturnURL: stripe.String("https://app.example.com/billing"),
	})
	if err != nil {
		t.Fatalf("create portal session: %v", err)
	}
	if !strings.HasPrefix(s.ID, "bps_") || s.URL == "" {
		t.Errorf("got ID %q URL %q, want bps_… and a URL", s.ID, s.URL)
	}
	t.Logf("portal: id=%s url=%s customer=%s return_url=%s", s.ID, s.URL, s.Customer, s.ReturnURL)
}

func TestSubscriptionRetrieve(t *testing.T) {
	t.Parallel()
	sc, _ := setup(t)
	sub, err := sc.V1Subscriptions.Retrieve(context.Background(), "sub_123", nil)
	if err != nil {
		t.Fatalf("retrieve subscription: %v", err)
	}
	// stripe-mock puts the requested ID on the fixture.
	if sub.ID != "sub_123" {
		t.Errorf("ID: got %q, want %q", sub.ID, "sub_123")
	}
	if sub.Items == nil || len(sub.Items.Data) == 0 {
		t.Fatal("Items: got none, want the fixture's item")
	}
	item := sub.Items.Data[0]
	t.Logf("subscription: id=%s status=%s customer=%v item price=%v period=%d..%d metadata=%v",
		sub.ID, sub.Status, sub.Customer, item.Price.ID, item.CurrentPeriodStart, item.CurrentPeriodEnd, sub.Metadata)
}

func TestSubscriptionList(t *testing.T) {
	t.Parallel()
	sc, _ := setup(t)
	var n int
	for sub, err := range sc.V1Subscriptions.List(context.Background(), &stripe.SubscriptionListParams{
		Customer: stripe.String("cus_123"),
		Status:   stripe.String("all"),
	}) {
		if err != nil {
			t.Fatalf("list subscriptions: %v", err)
		}
		n++
		t.Logf("subscription: id=%s status=%s", sub.ID, sub.Status)
	}
	if n == 0 {
		t.Error("list subscriptions: got none, want the fixture")
	}
}

func TestInvoiceList(t *testing.T) {
	t.Parallel()
	sc, _ := setup(t)
	var n int
	for inv, err := range sc.V1Invoices.List(context.Background(), &stripe.InvoiceListParams{
		Customer: stripe.String("cus_123"),
	}) {
		if err != nil {
			t.Fatalf("list invoices: %v", err)
		}
		n++
		t.Logf("invoice: id=%s status=%s total=%d currency=%s hosted=%s", inv.ID, inv.Status, inv.Total, inv.Currency, inv.HostedInvoiceURL)
	}
	if n == 0 {
		t.Error("list invoices: got none, want the fixture")
	}
}

func TestWebhookSignature(t *testing.T) {
	t.Parallel()
	const secret = "whsec_test"
	// An API version of another release train than stripe-go's, as an
	// endpoint pinned to an older version would send.
	payload := []byte(`{"id":"evt_1","object":"event","type":"checkout.session.completed","api_version":"2020-08-27",` +
		`"data":{"object":{"id":"cs_1","object":"checkout.session","client_reference_id":"u_1"}}}`)
	opts := webhook.ConstructEventOptions{Tolerance: 5 * time.Minute, IgnoreAPIVersionMismatch: true}

	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret})
	ev, err := webhook.ConstructEventWithOptions(signed.Payload, signed.Header, secret, opts)
	if err != nil {
		t.Fatalf("fresh signature: %v", err)
	}
	if ev.Type != stripe.EventTypeCheckoutSessionCompleted || ev.Data.Object["client_reference_id"] != "u_1" {
		t.Errorf("event: got type %q object %v", ev.Type, ev.Data.Object)
	}
	var cs stripe.CheckoutSession
	if err := cs.UnmarshalJSON(ev.Data.Raw); err != nil || cs.ClientReferenceID != "u_1" {
		t.Errorf("data.object as CheckoutSession: got %q, %v", cs.ClientReferenceID, err)
	}

	if _, err := webhook.ConstructEventWithOptions(signed.Payload, signed.Header, secret,
		webhook.ConstructEventOptions{Tolerance: 5 * time.Minute}); err == nil {
		t.Error("another release train without IgnoreAPIVersionMismatch: got nil error")
	}

	stale := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{
		Payload: payload, Secret: secret, Timestamp: time.Now().Add(-10 * time.Minute),
	})
	if _, err := webhook.ConstructEventWithOptions(stale.Payload, stale.Header, secret, opts); !errors.Is(err, webhook.ErrTooOld) {
		t.Errorf("stale signature: got %v, want %v", err, webhook.ErrTooOld)
	}
	if _, err := webhook.ConstructEventWithOptions(signed.Payload, signed.Header, "whsec_other", opts); !errors.Is(err, webhook.ErrNoValidSignature) {
		t.Errorf("wrong secret: got %v, want %v", err, webhook.ErrNoValidSignature)
	}
}

var errDown = errors.New("stripe is down")

// failing is an http.RoundTripper that fails every request with errDown.
type failing struct{ calls atomic.Int32 }

func (f *failing) RoundTrip(*http.Request) (*http.Response, error) {
	f.calls.Add(1)
	return nil, errDown
}

func TestTransportErrorIsKept(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		retries   *int64
		wantCalls int32
	}{
		{"no retries", stripe.Int64(0), 1},
		{"default retries", nil, 3}, // DefaultMaxNetworkRetries, with 0.5 s and 0.75–1 s sleeps
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &failing{}
			sc := newClient("http://127.0.0.1:1", f, tt.retries)
			_, err := sc.V1Customers.Create(context.Background(), &stripe.CustomerCreateParams{})
			if !errors.Is(err, errDown) {
				t.Errorf("errors.Is(err, errDown): got false for %T %v", err, err)
			}
			if got := f.calls.Load(); got != tt.wantCalls {
				t.Errorf("calls: got %d, want %d", got, tt.wantCalls)
			}
			t.Logf("error: %T %v", err, err)
		})
	}
}

// TestServerErrorRetries shows which answers stripe-go retries by default.
func TestServerErrorRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		body      string
		header    string
		wantCalls int32
	}{
		{"500 with a Stripe error", 500, `{"error":{"type":"api_error","message":"boom"}}`, "", 1},
		{"500 with Stripe-Should-Retry", 500, `{"error":{"type":"api_error","message":"boom"}}`, "true", 1},
		{"500 without JSON", 500, `boom`, "", 3},
		{"409 with a Stripe error", 409, `{"error":{"type":"invalid_request_error","message":"conflict"}}`, "", 1},
		{"429 lock_timeout", 429, `{"error":{"type":"invalid_request_error","code":"lock_timeout"}}`, "", 3},
		{"400", 400, `{"error":{"type":"invalid_request_error","message":"bad"}}`, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if tt.header != "" {
					w.Header().Set("Stripe-Should-Retry", tt.header)
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			sc := newClient(srv.URL, http.DefaultTransport, nil)
			_, err := sc.V1Customers.Create(context.Background(), &stripe.CustomerCreateParams{})
			if err == nil {
				t.Fatal("got nil error")
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("calls: got %d, want %d (err %T %v)", got, tt.wantCalls, err, err)
			}
		})
	}
}
