package billing_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v84/webhook"

	"github.com/rightsize/rightsize/internal/app/apptest"
	"github.com/rightsize/rightsize/internal/billing"
	"github.com/rightsize/rightsize/internal/platform/testkit/stripemock"
)

func TestMain(m *testing.M) {
	code := m.Run()
	stripemock.Stop()
	os.Exit(code)
}

const (
	webhookSecret = "whsec_test_rightsize"
	proPrice      = "price_pro_test"
	freeLimit     = 3
)

// testBundle is rightsize with billing on stripe-mock, for one test.
type testBundle struct {
	*apptest.Server
}

// setup starts rightsize with Stripe pointed at stripe-mock, the free plan
// allowing freeLimit orders a month; env overrides any variable.
func setup(tb testing.TB, env map[string]string) *testBundle {
	tb.Helper()
	vars := map[string]string{
		"STRIPE_SECRET_KEY":          "sk_test_rightsize",
		"STRIPE_WEBHOOK_SECRET":      webhookSecret,
		"STRIPE_PRICE_PRO":           proPrice,
		"PLAN_FREE_ORDERS_PER_MONTH": fmt.Sprint(freeLimit),
	}
	if env["STRIPE_API_URL"] == "" {
		vars["STRIPE_API_URL"] = stripemock.Start(tb)
	}
	for k, v := range env {
		vars[k] = v
	}
	return &testBundle{Server: apptest.Start(tb, vars)}
}

func (b *testBundle) service() *billing.Service {
	return b.App.Service("billing").(*billing.Service)
}

// customer gives u a Stripe customer the way a user gets one, through
// checkout, and returns its ID.
func (b *testBundle) customer(tb testing.TB, u apptest.User) string {
	tb.Helper()
	b.Want(tb, http.StatusCreated, "POST", "/v1/billing/checkout-session", u.Access, nil)
	return customerID(tb, b.Server, u.ID)
}

// subscriptionOf returns what GET /v1/billing/subscription answers u.
func (b *testBundle) subscriptionOf(tb testing.TB, u apptest.User) map[string]any {
	tb.Helper()
	return b.Want(tb, http.StatusOK, "GET", "/v1/billing/subscription", u.Access, nil)
}

var eventSeq atomic.Int64

// event returns a Stripe event of type typ about object, created at created.
func event(typ string, created time.Time, object map[string]any) map[string]any {
	return map[string]any{
		"id": fmt.Sprintf("evt_test_%d_%d", time.Now().UnixNano(), eventSeq.Add(1)), "object": "event",
		"type": typ, "created": created.Unix(), "api_version": "2025-09-30.clover", "livemode": false,
		"data": map[string]any{"object": object},
	}
}

// sign returns ev as a webhook body and the Stripe-Signature header for it,
// signed at t with secret.
func sign(tb testing.TB, ev map[string]any, secret string, t time.Time) (string, string) {
	tb.Helper()
	payload, err := json.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: t})
	return string(payload), signed.Header
}

// deliver posts ev, properly signed now, to the webhook and returns the
// answer.
func (b *testBundle) deliver(tb testing.TB, ev map[string]any) apptest.Response {
	tb.Helper()
	body, sig := sign(tb, ev, webhookSecret, time.Now())
	return b.CallHeader(tb, "POST", "/webhooks/stripe", http.Header{"Stripe-Signature": {sig}}, body)
}

// subscription is a Stripe subscription object of customer to price.
func subscription(id, customer, price, status string, periodEnd time.Time) map[string]any {
	return map[string]any{
		"id": id, "object": "subscription", "customer": customer, "status": status, "cancel_at_period_end": false,
		"items": map[string]any{"object": "list", "data": []any{map[string]any{
			"id": "si_" + id, "object": "subscription_item", "current_period_end": periodEnd.Unix(),
			"price": map[string]any{"id": price, "object": "price"},
		}}},
	}
}
