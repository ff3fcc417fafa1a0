package orders

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/idempotency"
)

// The handlers decode, call an operation and encode; the rules live in the
// operations.

// writeOrder answers with o (see appendOrder).
func writeOrder(w http.ResponseWriter, status int, o Order) {
	httpx.WriteJSON(w, status, append(appendOrder(make([]byte, 0, 512), o), '\n'))
}

func (s *Service) createOrder() http.Handler {
	type item struct {
		SKU        string `json:"sku"`
		Name       string `json:"name"`
		Quantity   int64  `json:"quantity"`
		UnitAmount *int64 `json:"unit_amount"` // required: a missing price is not a free item
	}
	type request struct {
		Currency string `json:"currency"`
		Items    []item `json:"items"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, err := authn.Caller(r.Context())
		if err != nil {
			return err
		}
		in, err := httpx.Decode[request](r)
		if err != nil {
			return err
		}
		var v apperr.Validation
		if len(in.Items) > MaxItems {
			// Refused before any item is looked at: checking a million
			// of them would cost what the limit is there to prevent.
			v.Add("items", fmt.Sprintf("must hold at most %d items", MaxItems))
			return v.Err()
		}
		order := NewOrder{Currency: in.Currency, Items: make([]NewItem, len(in.Items))}
		order.IdempotencyKey, _ = idempotency.KeyFrom(r.Context())
		for i, it := range in.Items {
			if it.UnitAmount == nil {
				v.Add(itemField(i, "unit_amount"), "is required")
				continue
			}
			order.Items[i] = NewItem{SKU: it.SKU, Name: it.Name, Quantity: it.Quantity, UnitAmount: *it.UnitAmount}
		}
		if err := v.Err(); err != nil {
			return err
		}
		o, err := s.Create(r.Context(), p.UserID, order)
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/v1/orders/"+o.ID)
		writeOrder(w, http.StatusCreated, o)
		return nil
	})
}

func (s *Service) getOrder() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, err := authn.Caller(r.Context())
		if err != nil {
			return err
		}
		o, err := s.Order(r.Context(), p.UserID, r.PathValue("id"))
		if err != nil {
			return err
		}
		writeOrder(w, http.StatusOK, o)
		return nil
	})
}

// pages holds the buffers pages of orders are encoded into: a page is
// about 10 KB, and allocating and clearing one for every request was a
// measurable share of the list's CPU and of the garbage collector's.
var pages = sync.Pool{New: func() any { return new([]byte) }}

func (s *Service) listOrders() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, err := authn.Caller(r.Context())
		if err != nil {
			return err
		}
		page, err := s.pager.Parse(r)
		if err != nil {
			return err
		}
		f, err := parseFilter(r)
		if err != nil {
			return err
		}
		var after position
		ok, err := page.After(&after)
		if err != nil {
			return err
		}
		var at *position
		if ok {
			at = &after
		}
		orders, err := s.Orders(r.Context(), p.UserID, f, at, page.Limit+1)
		if err != nil {
			return err
		}
		list := httpx.NewList(orders, page.Limit, func(o Order) any {
			return position{CreatedAt: o.CreatedAt, ID: o.ID}
		}, s.pager)
		buf := pages.Get().(*[]byte)
		b := append(appendList((*buf)[:0], list), '\n')
		httpx.WriteJSON(w, http.StatusOK, b)
		// An io.Writer must not keep b, so it can serve the next page. One
		// of a rare huge page is left to the garbage collector.
		if cap(b) <= 64<<10 {
			*buf = b
			pages.Put(buf)
		}
		return nil
	})
}

// parseFilter reads the list's filters: status, and created_after and
// created_before as RFC 3339 times.
func parseFilter(r *http.Request) (Filter, error) {
	var f Filter
	var v apperr.Validation
	q := httpx.CheckParams(&v, r.URL.RawQuery, "limit", "cursor", "status", "created_after", "created_before")
	if q.Has("status") {
		f.Status = Status(q.Get("status"))
		v.Check(f.Status.valid(), "status", "must be pending, paid, fulfilled or cancelled")
	}
	for _, t := range []struct {
		name string
		dst  **time.Time
	}{{"created_after", &f.CreatedAfter}, {"created_before", &f.CreatedBefore}} {
		if !q.Has(t.name) {
			continue
		}
		// The year is checked in UTC, as the databases store it: SQLite
		// compares times as text, where "10000-" sorts before "2026-".
		at, err := time.Parse(time.RFC3339Nano, q.Get(t.name))
		if at = at.UTC(); err != nil || at.Year() < 1 || at.Year() > 9999 {
			v.Add(t.name, "must be an RFC 3339 time from year 1 to 9999 in UTC, such as 2026-12-01T00:00:00Z")
			continue
		}
		*t.dst = &at
	}
	return f, v.Err()
}

func (s *Service) cancelOrder() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, err := authn.Caller(r.Context())
		if err != nil {
			return err
		}
		o, err := s.Cancel(r.Context(), p.UserID, r.PathValue("id"))
		if err != nil {
			return err
		}
		writeOrder(w, http.StatusOK, o)
		return nil
	})
}
