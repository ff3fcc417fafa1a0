package orders_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/app/apptest"
	"github.com/rightsize/rightsize/internal/orders"
	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/database"
)

// A user creates, reads, lists and cancels an order; the server computes
// the totals; the owner is mailed a confirmation.
func TestOrderLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := b.NewUser(t, "ada@example.com")

	r := b.Call(t, "POST", "/v1/orders", ada.Access, order("EUR", item("BOOK-1", 2, 1250), item("PEN", 3, 199)))
	if r.Status != http.StatusCreated {
		t.Fatalf("create: got %d %v, want 201", r.Status, r.Body)
	}
	created := r.Body
	orderID := created["id"].(string)
	if loc := r.Header.Get("Location"); loc != "/v1/orders/"+orderID {
		t.Errorf("Location: got %q, want /v1/orders/%s", loc, orderID)
	}
	if created["status"] != "pending" || created["total_amount"] != float64(2*1250+3*199) || created["currency"] != "EUR" {
		t.Errorf("created: got %v, want pending EUR 3097", created)
	}
	items := created["items"].([]any)
	if len(items) != 2 || items[0].(map[string]any)["amount"] != float64(2500) || items[1].(map[string]any)["sku"] != "PEN" {
		t.Errorf("items: got %v, want BOOK-1 (2500) then PEN", items)
	}

	got := b.Want(t, http.StatusOK, "GET", "/v1/orders/"+orderID, ada.Access, nil)
	if fmt.Sprint(got) != fmt.Sprint(created) {
		t.Errorf("GET: got %v, want what the create answered, %v", got, created)
	}
	if list := ids(t, b.Want(t, http.StatusOK, "GET", "/v1/orders", ada.Access, nil)); !slices.Equal(list, []string{orderID}) {
		t.Errorf("list: got %v, want [%s]", list, orderID)
	}

	m := b.WaitMail(t, "ada@example.com", "Your order "+orderID)
	for _, want := range []string{"2 × Item BOOK-1 (BOOK-1): 25.00 EUR", "3 × Item PEN (PEN): 5.97 EUR", "Total: 30.97 EUR"} {
		if !strings.Contains(string(m.Body), want) {
			t.Errorf("confirmation mail lacks %q:\n%s", want, m.Body)
		}
	}

	cancelled := b.Want(t, http.StatusOK, "POST", "/v1/orders/"+orderID+"/cancel", ada.Access, nil)
	if cancelled["status"] != "cancelled" || cancelled["cancelled_at"] == nil {
		t.Errorf("cancel: got %v, want cancelled with cancelled_at", cancelled)
	}
	r = b.Call(t, "POST", "/v1/orders/"+orderID+"/cancel", ada.Access, nil)
	if r.Status != http.StatusConflict || !strings.Contains(fmt.Sprint(r.Body["detail"]), "cancelled") {
		t.Errorf("cancel twice: got %d %v, want 409 saying the order is cancelled", r.Status, r.Body)
	}
}

// Another user's order answers exactly as a missing one, on every route,
// and never shows up in their list.
func TestOtherUsersOrdersAreNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := b.NewUser(t, "ada@example.com")
	eve := b.NewUser(t, "eve@example.com")
	orderID := b.create(t, ada.Access, order("USD", item("A", 1, 100)))["id"].(string)
	missing := "ord_01JAAAAAAAAAAAAAAAAAAAAAAA"

	for _, req := range []struct{ method, path string }{
		{"GET", "/v1/orders/" + orderID},
		{"POST", "/v1/orders/" + orderID + "/cancel"},
	} {
		theirs := b.Call(t, req.method, req.path, eve.Access, nil)
		none := b.Call(t, req.method, strings.Replace(req.path, orderID, missing, 1), eve.Access, nil)
		if theirs.Status != http.StatusNotFound || theirs.Body["detail"] != none.Body["detail"] || none.Status != http.StatusNotFound {
			t.Errorf("%s %s as another user: got %d %v, want the 404 of a missing order (%d %v)", req.method, req.path, theirs.Status, theirs.Body, none.Status, none.Body)
		}
	}
	for _, bad := range []string{"ord_x", "usr_01JAAAAAAAAAAAAAAAAAAAAAAA", "%00", strings.Repeat("9", 500)} {
		if r := b.Call(t, "GET", "/v1/orders/"+bad, eve.Access, nil); r.Status != http.StatusNotFound {
			t.Errorf("GET /v1/orders/%s: got %d, want 404", bad, r.Status)
		}
	}
	if list := ids(t, b.Want(t, http.StatusOK, "GET", "/v1/orders", eve.Access, nil)); len(list) != 0 {
		t.Errorf("another user's list: got %v, want none", list)
	}
	if got := b.Want(t, http.StatusOK, "GET", "/v1/orders/"+orderID, ada.Access, nil); got["status"] != "pending" {
		t.Errorf("the owner's order after the attempts: got %v, want it pending", got)
	}
}

// An API key with the read scope reads orders and changes none; a full key
// writes.
func TestReadOnlyKeyCannotWrite(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := b.NewUser(t, "ada@example.com")
	read := b.NewAPIKey(t, ada, "read")
	full := b.NewAPIKey(t, ada, "full")
	orderID := b.create(t, full, order("EUR", item("A", 1, 100)))["id"].(string)

	b.Want(t, http.StatusOK, "GET", "/v1/orders/"+orderID, read, nil)
	b.Want(t, http.StatusOK, "GET", "/v1/orders", read, nil)
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/orders", order("EUR", item("A", 1, 100))},
		{"POST", "/v1/orders/" + orderID + "/cancel", nil},
	} {
		if r := b.Call(t, req.method, req.path, read, req.body); r.Status != http.StatusForbidden {
			t.Errorf("%s %s with a read key: got %d %v, want 403", req.method, req.path, r.Status, r.Body)
		}
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM orders WHERE status = 'pending'`); n != 1 {
		t.Errorf("orders after the read key's writes: got %d pending, want 1", n)
	}
}

// Paging through a list while new orders arrive between pages skips and
// repeats nothing; the filters narrow it.
func TestPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := b.NewUser(t, "ada@example.com")
	var made []string // oldest first
	for i := range 25 {
		made = append(made, b.create(t, ada.Access, order("EUR", item(fmt.Sprintf("SKU-%d", i), 1, int64(i))))["id"].(string))
	}
	var seen []string
	path := "/v1/orders?limit=10"
	for page := 0; ; page++ {
		body := b.Want(t, http.StatusOK, "GET", path, ada.Access, nil)
		seen = append(seen, ids(t, body)...)
		// Newer orders arrive between pages: they sort before the cursor.
		b.create(t, ada.Access, order("EUR", item("LATE", 1, 1)))
		next, _ := body["next_cursor"].(string)
		if next == "" {
			break
		}
		if page > 5 {
			t.Fatal("more pages than orders")
		}
		path = "/v1/orders?limit=10&cursor=" + next
	}
	want := slices.Clone(made)
	slices.Reverse(want)
	if !slices.Equal(seen, want) {
		t.Errorf("paged through:\n got %v\nwant %v (the 25 orders, newest first, once each)", seen, want)
	}

	b.Want(t, http.StatusOK, "POST", "/v1/orders/"+made[3]+"/cancel", ada.Access, nil)
	b.Want(t, http.StatusOK, "POST", "/v1/orders/"+made[7]+"/cancel", ada.Access, nil)
	if got := ids(t, b.Want(t, http.StatusOK, "GET", "/v1/orders?status=cancelled", ada.Access, nil)); !slices.Equal(got, []string{made[7], made[3]}) {
		t.Errorf("status=cancelled: got %v, want [%s %s]", got, made[7], made[3])
	}
	one := b.Want(t, http.StatusOK, "GET", "/v1/orders/"+made[10], ada.Access, nil)
	at, _ := time.Parse(time.RFC3339Nano, one["created_at"].(string))
	before := ids(t, b.Want(t, http.StatusOK, "GET", "/v1/orders?limit=100&created_before="+at.Format(time.RFC3339Nano), ada.Access, nil))
	after := ids(t, b.Want(t, http.StatusOK, "GET", "/v1/orders?limit=100&created_after="+at.Add(-time.Microsecond).Format(time.RFC3339Nano)+"&created_before="+at.Add(time.Microsecond).Format(time.RFC3339Nano), ada.Access, nil))
	for _, id := range before {
		if !slices.Contains(made[:10], id) {
			t.Errorf("created_before the 11th order: got %s, which is not one of the first 10", id)
		}
	}
	if !slices.Contains(after, made[10]) {
		t.Errorf("created in a µs around the 11th order: got %v, want it among them", after)
	}
}

// A page of 100 orders of 5 items each costs at most 3 queries: the page,
// its items, and nothing per order.
func TestListQueryCount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := b.NewUser(t, "ada@example.com")
	five := []map[string]any{item("A", 1, 1), item("B", 2, 2), item("C", 3, 3), item("D", 4, 4), item("E", 5, 5)}
	for range 100 {
		b.create(t, ada.Access, order("EUR", five...))
	}
	for _, path := range []string{"/v1/orders?limit=100", "/v1/orders?limit=100&status=pending"} {
		ctx, stats := database.WithStats(context.Background())
		req := httptest.NewRequestWithContext(ctx, "GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+ada.Access)
		rec := httptest.NewRecorder()
		b.Handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || strings.Count(rec.Body.String(), `"sku"`) != 500 {
			t.Fatalf("GET %s: got %d with %d items, want 200 with 500", path, rec.Code, strings.Count(rec.Body.String(), `"sku"`))
		}
		if n := stats.Queries(); n > 3 {
			t.Errorf("GET %s: %d queries for 100 orders of 5 items, want at most 3", path, n)
		}
	}
}

// The state machine, through the operations billing and fulfilment call:
// pending → paid → fulfilled; MarkPaid is safe to repeat with its payment;
// a wrong transition is a conflict that says why.
func TestTransitions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := b.NewUser(t, "ada@example.com")
	s := b.service()
	ctx := context.Background()
	orderID := b.create(t, ada.Access, order("JPY", item("A", 1, 500)))["id"].(string)

	if _, err := s.Fulfil(ctx, orderID); !errors.Is(err, apperr.ErrConflict) {
		t.Errorf("fulfil a pending order: got %v, want a conflict", err)
	}
	o, err := s.MarkPaid(ctx, orderID, "pi_1")
	if err != nil || o.Status != orders.Paid || o.PaymentRef != "pi_1" || o.PaidAt == nil {
		t.Fatalf("MarkPaid: got %+v, %v; want paid by pi_1", o, err)
	}
	if again, err := s.MarkPaid(ctx, orderID, "pi_1"); err != nil || !again.PaidAt.Equal(*o.PaidAt) {
		t.Errorf("MarkPaid again with the same payment: got %+v, %v; want the order unchanged", again, err)
	}
	if _, err := s.MarkPaid(ctx, orderID, "pi_2"); !errors.Is(err, apperr.ErrConflict) {
		t.Errorf("MarkPaid by another payment: got %v, want a conflict", err)
	}
	r := b.Call(t, "POST", "/v1/orders/"+orderID+"/cancel", ada.Access, nil)
	if r.Status != http.StatusConflict || r.Body["detail"] != "the order is paid: only a pending order can become cancelled" {
		t.Errorf("cancel a paid order: got %d %v, want 409 saying why", r.Status, r.Body)
	}
	if o, err := s.Fulfil(ctx, orderID); err != nil || o.Status != orders.Fulfilled {
		t.Errorf("Fulfil: got %+v, %v; want fulfilled", o, err)
	}
	if _, err := s.MarkPaid(ctx, "ord_01JAAAAAAAAAAAAAAAAAAAAAAA", "pi_3"); !errors.Is(err, apperr.ErrNotFound) {
		t.Errorf("MarkPaid a missing order: got %v, want not found", err)
	}
	cancelled := b.create(t, ada.Access, order("JPY", item("A", 1, 500)))["id"].(string)
	b.Want(t, http.StatusOK, "POST", "/v1/orders/"+cancelled+"/cancel", ada.Access, nil)
	if _, err := s.MarkPaid(ctx, cancelled, "pi_4"); !errors.Is(err, apperr.ErrConflict) {
		t.Errorf("MarkPaid a cancelled order: got %v, want a conflict", err)
	}
}

// Idempotency-Key on create: a replay answers the original, a changed body
// is refused, and requests racing with one key make one order.
func TestIdempotentCreate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := b.NewUser(t, "ada@example.com")
	eve := b.NewUser(t, "eve@example.com")
	header := func(bearer, key string) http.Header {
		return http.Header{"Authorization": {"Bearer " + bearer}, "Idempotency-Key": {key}}
	}
	body := order("EUR", item("A", 2, 300))

	first := b.CallHeader(t, "POST", "/v1/orders", header(ada.Access, "order-1"), body)
	replay := b.CallHeader(t, "POST", "/v1/orders", header(ada.Access, "order-1"), body)
	if first.Status != http.StatusCreated || replay.Status != http.StatusCreated || fmt.Sprint(first.Body) != fmt.Sprint(replay.Body) {
		t.Errorf("replay: got %d %v, want the first answer %d %v", replay.Status, replay.Body, first.Status, first.Body)
	}
	if replay.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: Idempotent-Replayed %q, want true", replay.Header.Get("Idempotent-Replayed"))
	}
	changed := b.CallHeader(t, "POST", "/v1/orders", header(ada.Access, "order-1"), order("EUR", item("A", 3, 300)))
	if changed.Status != http.StatusUnprocessableEntity {
		t.Errorf("same key, other body: got %d %v, want 422", changed.Status, changed.Body)
	}
	// Keys are per user: Eve's "order-1" is her own.
	if r := b.CallHeader(t, "POST", "/v1/orders", header(eve.Access, "order-1"), body); r.Status != http.StatusCreated || r.Body["id"] == first.Body["id"] {
		t.Errorf("another user's same key: got %d %v, want a new order", r.Status, r.Body)
	}

	const racers = 8
	var wg sync.WaitGroup
	statuses := make([]int, racers)
	for i := range racers {
		wg.Go(func() {
			r, err := b.DoHeader("POST", "/v1/orders", header(ada.Access, "race"), body)
			if err != nil {
				t.Error(err)
				return
			}
			statuses[i] = r.Status
		})
	}
	wg.Wait()
	for _, s := range statuses {
		if s != http.StatusCreated && s != http.StatusConflict {
			t.Errorf("racing creates: got statuses %v, want only 201 and 409", statuses)
			break
		}
	}
	if !slices.Contains(statuses, http.StatusCreated) {
		t.Errorf("racing creates: got statuses %v, want one 201 at least", statuses)
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM orders WHERE user_id = $1`, ada.ID); n != 2 {
		t.Errorf("ada's orders: got %d, want 2 (order-1 and race, once each)", n)
	}
}

// Bad input is a 400 (or 413, 415) problem+json that names what is wrong,
// and writes nothing.
func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := b.NewUser(t, "ada@example.com")
	many := make([]map[string]any, orders.MaxItems+1)
	for i := range many {
		many[i] = item("A", 1, 1)
	}
	for _, tt := range []struct {
		name     string
		body     any
		field    string // in the errors list; "" when the detail names it
		inDetail string
	}{
		{"unknown currency", order("EUX", item("A", 1, 1)), "currency", ""},
		{"lower-case currency", order("eur", item("A", 1, 1)), "currency", ""},
		{"withdrawn currency", order("DEM", item("A", 1, 1)), "currency", ""},
		{"no items", order("EUR"), "items", ""},
		{"too many items", order("EUR", many...), "items", ""},
		{"zero quantity", order("EUR", item("A", 0, 1)), "items[0].quantity", ""},
		{"negative quantity", order("EUR", item("A", 1, 1), item("B", -2, 1)), "items[1].quantity", ""},
		{"negative price", order("EUR", item("A", 1, -1)), "items[0].unit_amount", ""},
		{"missing price", `{"currency":"EUR","items":[{"sku":"A","name":"A","quantity":1}]}`, "items[0].unit_amount", ""},
		{"line over the maximum", order("EUR", item("A", 1000, orders.MaxAmount/999)), "items[0].unit_amount", ""},
		{"total over the maximum", order("EUR", item("A", 1, orders.MaxAmount), item("B", 1, 1)), "items", ""},
		{"price over int64", `{"currency":"EUR","items":[{"sku":"A","name":"A","quantity":1,"unit_amount":9223372036854775808}]}`, "", "unit_amount"},
		{"fractional quantity", `{"currency":"EUR","items":[{"sku":"A","name":"A","quantity":1.5,"unit_amount":1}]}`, "", "quantity"},
		{"quantity as a string", `{"currency":"EUR","items":[{"sku":"A","name":"A","quantity":"1","unit_amount":1}]}`, "", "quantity"},
		{"items as an object", `{"currency":"EUR","items":{}}`, "", "items"},
		{"unknown field", `{"currency":"EUR","items":[{"sku":"A","name":"A","quantity":1,"unit_amount":1}],"total_amount":1}`, "", "total_amount"},
		{"unknown item field", `{"currency":"EUR","items":[{"sku":"A","name":"A","quantity":1,"unit_amount":1,"amount":0}]}`, "", "amount"},
		{"bad sku", order("EUR", item("A B", 1, 1)), "items[0].sku", ""},
		{"hostile name", order("EUR", map[string]any{"sku": "A", "name": "Book\u202eexe.", "quantity": 1, "unit_amount": 1}), "items[0].name", ""},
		{"empty name", order("EUR", map[string]any{"sku": "A", "name": "", "quantity": 1, "unit_amount": 1}), "items[0].name", ""},
		{"null body", `null`, "currency", ""},
		{"two values", `{"currency":"EUR","items":[]} {}`, "", "after"},
		{"currency given twice", `{"currency":"EUR","items":[{"sku":"A","name":"A","quantity":1,"unit_amount":1}],"currency":"USD"}`, "", "twice"},
		{"field in other case", `{"Currency":"EUR","items":[{"sku":"A","name":"A","quantity":1,"unit_amount":1}]}`, "", "Currency"},
	} {
		r := b.Call(t, "POST", "/v1/orders", ada.Access, tt.body)
		switch {
		case tt.field != "":
			if r.Status != http.StatusBadRequest || !slices.Contains(apptest.ErrorFields(r.Body), tt.field) {
				t.Errorf("%s: got %d %v, want 400 naming %s", tt.name, r.Status, r.Body, tt.field)
			}
		default:
			if r.Status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(r.Body["detail"]), tt.inDetail) {
				t.Errorf("%s: got %d %v, want 400 whose detail names %s", tt.name, r.Status, r.Body, tt.inDetail)
			}
		}
	}
	huge := `{"currency":"EUR","items":[` + strings.Repeat(`{"sku":"A","name":"A","quantity":1,"unit_amount":1},`, 40000) + `{}]}`
	if r := b.Call(t, "POST", "/v1/orders", ada.Access, huge); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2 MB body: got %d %v, want 413", r.Status, r.Body)
	}
	// Thousands of items are refused as one error, before any is looked
	// at: the answer stays small.
	r := b.Call(t, "POST", "/v1/orders", ada.Access, `{"currency":"EUR","items":[`+strings.Repeat(`{},`, 50000)+`{}]}`)
	if r.Status != http.StatusBadRequest || !slices.Equal(apptest.ErrorFields(r.Body), []string{"items"}) {
		t.Errorf("50,001 empty items: got %d %v, want 400 naming items once", r.Status, apptest.ErrorFields(r.Body))
	}
	r = b.Call(t, "POST", "/v1/orders", ada.Access, `{"currency":"EUR","items":[{"sku":"A","name":"A","quantity":1,"unit_amount":`+strings.Repeat("9", 100000)+`}]}`)
	if r.Status != http.StatusBadRequest || len(fmt.Sprint(r.Body["detail"])) > 200 {
		t.Errorf("a 100,000-digit price: got %d with a detail of %d bytes, want 400 with a short detail", r.Status, len(fmt.Sprint(r.Body["detail"])))
	}
	for q, field := range map[string]string{
		"status=pending&status=paid": "status",
		"limit=1&limit=3":            "limit",
		// Year 10000 once in UTC, where the databases compare it.
		"created_after=9999-12-31T23:59:59-23:59": "created_after",
		"status=shipped":            "status",
		"created_after=yesterday":   "created_after",
		"created_before=2026-13-01": "created_before",
		"limit=0":                   "limit",
		"limit=101":                 "limit",
		"cursor=abc":                "cursor",
		"stauts=paid":               "stauts",
	} {
		wantInvalid(t, b.Call(t, "GET", "/v1/orders?"+q, ada.Access, nil), field)
	}
	for _, table := range []string{"orders", "order_items"} {
		if n := b.Count(t, `SELECT COUNT(*) FROM `+table); n != 0 {
			t.Errorf("%s after bad input: got %d rows, want 0", table, n)
		}
	}
}

// The access token of an account deleted since it was issued (valid until
// it expires) places no order: nobody could pay it or be mailed about it.
func TestDeletedAccountCannotOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ada := b.NewUser(t, "ada@example.com")
	b.Want(t, http.StatusNoContent, "DELETE", "/v1/me", ada.Access, map[string]string{"password": apptest.UserPassword})
	if r := b.Call(t, "POST", "/v1/orders", ada.Access, order("EUR", item("A", 1, 100))); r.Status != http.StatusUnauthorized {
		t.Errorf("create with a deleted account's token: got %d %v, want 401", r.Status, r.Body)
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM orders`); n != 0 {
		t.Errorf("orders after the attempt: got %d, want 0", n)
	}
}
