package httpx_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rightsize/rightsize/internal/platform/httpx"
)

func ExampleChain() {
	logger := slog.New(slog.DiscardHandler) // the server's logger
	production := false                     // cfg.Production()

	mux := http.NewServeMux()
	mux.Handle("GET /v1/orders/{id}", httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		httpx.Encode(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
		return nil
	}))

	mw := []httpx.Middleware{
		httpx.SecurityHeaders(),                 // on every response, whoever writes it
		httpx.RequestID(),                       // creates the Info all the others use
		httpx.LimitBody(1 << 20),                // before any wrapper: see LimitBody
		httpx.AccessLog(logger),                 // sees the final status, even of a panic
		httpx.Metrics(prometheus.NewRegistry()), // likewise
	}
	if production {
		mw = append(mw, httpx.RequireHTTPS()) // so redirects are logged and counted
	}
	mw = append(mw,
		httpx.Recover(logger),         // its 500 is what AccessLog and Metrics record
		httpx.Timeout(30*time.Second), // the deadline covers the handler's work only
	)
	h := httpx.Chain(httpx.Routes(mux), mw...)

	for _, path := range []string{"/v1/orders/42", "/v1/customers/42"} {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set(httpx.HeaderRequestID, "req-1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(w.Code, w.Header().Get("Content-Type"), w.Header().Get("X-Content-Type-Options"))
		fmt.Print(w.Body)
	}
	// Output:
	// 200 application/json nosniff
	// {"id":"42"}
	// 404 application/problem+json nosniff
	// {"type":"about:blank","title":"Not Found","status":404,"detail":"no route for GET /v1/customers/42","correlation_id":"req-1"}
}

func ExamplePager() {
	type order struct {
		ID int `json:"id"`
	}
	orders := []order{{1}, {2}, {3}, {4}, {5}} // the table, in the list's order

	key := make([]byte, 32) // cfg.CursorSecret
	pager := httpx.NewPager(key, "orders")

	list := httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		page, err := pager.Parse(r)
		if err != nil {
			return err
		}
		var after int // the position: here an ID, often a created_at and an ID
		if _, err := page.After(&after); err != nil {
			return err
		}
		// The store's SELECT ... WHERE id > $1 ORDER BY id LIMIT $2, with Limit+1.
		var rows []order
		for _, o := range orders {
			if o.ID > after && len(rows) < page.Limit+1 {
				rows = append(rows, o)
			}
		}
		posOf := func(o order) any { return o.ID }
		httpx.Encode(w, http.StatusOK, httpx.NewList(rows, page.Limit, posOf, pager))
		return nil
	})

	// A client following next_cursor until it is null. Cursors are base64url,
	// safe in a query as they are.
	url := "/v1/orders?limit=2"
	for {
		w := httptest.NewRecorder()
		list.ServeHTTP(w, httptest.NewRequest(http.MethodGet, url, nil))
		var body httpx.List[order]
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			panic(err)
		}
		fmt.Println(body.Data, body.NextCursor != nil)
		if body.NextCursor == nil {
			break
		}
		url = "/v1/orders?limit=2&cursor=" + *body.NextCursor
	}

	// A cursor another list signed, even with the same key, is bad input.
	other := httpx.NewPager(key, "customers").Next(3)
	w := httptest.NewRecorder()
	list.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/orders?cursor="+other, nil))
	fmt.Println(w.Code)
	// Output:
	// [{1} {2}] true
	// [{3} {4}] true
	// [{5}] false
	// 400
}
