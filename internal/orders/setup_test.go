package orders_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/rightsize/rightsize/internal/app/apptest"
	"github.com/rightsize/rightsize/internal/orders"
)

// testBundle is rightsize running for one test, with the users it made.
type testBundle struct {
	*apptest.Server
}

func setup(tb testing.TB) *testBundle {
	tb.Helper()
	return &testBundle{Server: apptest.Start(tb, nil)}
}

// service returns the api service the server runs, for its operations.
func (b *testBundle) service() *orders.Service {
	return b.App.Service("api").(*orders.Service)
}

// item is one line of a create request.
func item(sku string, qty, unit int64) map[string]any {
	return map[string]any{"sku": sku, "name": "Item " + sku, "quantity": qty, "unit_amount": unit}
}

// order is a create request's body.
func order(currency string, items ...map[string]any) map[string]any {
	return map[string]any{"currency": currency, "items": items}
}

// create places an order as bearer and returns the answer's body.
func (b *testBundle) create(tb testing.TB, bearer string, body map[string]any) map[string]any {
	tb.Helper()
	return b.Want(tb, http.StatusCreated, "POST", "/v1/orders", bearer, body)
}

// ids returns the id of each order of a list body's data.
func ids(tb testing.TB, body map[string]any) []string {
	tb.Helper()
	data, ok := body["data"].([]any)
	if !ok {
		tb.Fatalf("no data in %v", body)
	}
	out := make([]string, len(data))
	for i, o := range data {
		out[i] = o.(map[string]any)["id"].(string)
	}
	return out
}

// wantInvalid fails the test unless r is a 400 naming field among the bad
// ones.
func wantInvalid(tb testing.TB, r apptest.Response, field string) {
	tb.Helper()
	if r.Status != http.StatusBadRequest {
		tb.Fatalf("got %d %v, want 400 naming %s", r.Status, r.Body, field)
	}
	if !slices.Contains(apptest.ErrorFields(r.Body), field) {
		tb.Fatalf("invalid fields: got %q, want %q among them; body %v", apptest.ErrorFields(r.Body), field, r.Body)
	}
}
