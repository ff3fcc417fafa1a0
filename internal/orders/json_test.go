package orders

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/httpx"
)

// The order as encoding/json writes it: what appendOrder must match.
type orderJSON struct {
	ID          string     `json:"id"`
	Status      Status     `json:"status"`
	Currency    string     `json:"currency"`
	TotalAmount int64      `json:"total_amount"`
	Items       []itemJSON `json:"items"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	PaidAt      *time.Time `json:"paid_at"`
	FulfilledAt *time.Time `json:"fulfilled_at"`
	CancelledAt *time.Time `json:"cancelled_at"`
}

type itemJSON struct {
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	Quantity   int64  `json:"quantity"`
	UnitAmount int64  `json:"unit_amount"`
	Amount     int64  `json:"amount"`
}

func referenceJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func toOrderJSON(o Order) orderJSON {
	items := []itemJSON{}
	for _, it := range o.Items {
		items = append(items, itemJSON(it))
	}
	return orderJSON{o.ID, o.Status, o.Currency, o.TotalAmount, items, o.CreatedAt, o.UpdatedAt, o.PaidAt, o.FulfilledAt, o.CancelledAt}
}

func TestOrderJSON(t *testing.T) {
	paid := time.Date(2026, 12, 5, 3, 4, 5, 123456789, time.UTC)
	offset := time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -(3*3600+30*60)))
	names := []string{
		"Book", "", `a "quoted" \ name`, "<script>&amp;</script>", "a<b", "a>b", "a&b", "tab\tnew\nline\x00\x1f\x7f",
		"Ünïcødé ☃ 🚀", "line\u2028sep\u2029", "bad \xff\xfe utf-8", "combining e\u0301",
	}
	var orders []Order
	for i, name := range names {
		o := Order{
			ID: "ord_" + name, Status: Paid, Currency: "EUR", TotalAmount: -9007199254740991 + int64(i),
			CreatedAt: offset, UpdatedAt: paid.Add(time.Duration(i)),
			Items: []Item{{SKU: "SKU-" + name, Name: name, Quantity: 1e6, UnitAmount: 9007199254740991, Amount: 0}},
		}
		if i%2 == 0 {
			o.PaidAt, o.FulfilledAt = &paid, &offset
		} else {
			o.CancelledAt = &paid
			o.Items = nil
		}
		orders = append(orders, o)
		if got, want := appendOrder(nil, o), referenceJSON(t, toOrderJSON(o)); !bytes.Equal(got, want) {
			t.Errorf("name %q:\n got %s\nwant %s", name, got, want)
		}
	}

	cursor := "c<&>\u2028"
	for _, list := range []httpx.List[Order]{
		{Data: []Order{}},
		{Data: orders},
		{Data: orders[:1], NextCursor: &cursor},
	} {
		want := httpx.List[orderJSON]{Data: []orderJSON{}, NextCursor: list.NextCursor}
		for _, o := range list.Data {
			want.Data = append(want.Data, toOrderJSON(o))
		}
		if got, want := appendList(nil, list), referenceJSON(t, want); !bytes.Equal(got, want) {
			t.Errorf("list of %d:\n got %s\nwant %s", len(list.Data), got, want)
		}
	}
}

// FuzzOrderJSON holds appendOrder's strings to encoding/json's for any
// name and SKU.
func FuzzOrderJSON(f *testing.F) {
	for _, s := range []string{"Book", `"\`, "<>&", "\u2028", "\xff", "\x00\t"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, sku, name string) {
		o := Order{ID: "ord_1", Status: Pending, Currency: "JPY", Items: []Item{{SKU: sku, Name: name, Quantity: 2}}}
		if got, want := appendOrder(nil, o), referenceJSON(t, toOrderJSON(o)); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// BenchmarkPageJSON compares appendList with encoding/json on the page
// bench/run loads: 20 orders of 3 items.
func BenchmarkPageJSON(b *testing.B) {
	now := time.Now().UTC()
	list := httpx.List[Order]{Data: make([]Order, 20)}
	for i := range list.Data {
		list.Data[i] = Order{ID: "ord_01JEXAMPLE00000000000000", Status: Pending, Currency: "EUR", TotalAmount: 4347, CreatedAt: now, UpdatedAt: now,
			Items: []Item{{"BOOK", "A book", 1, 1250, 1250}, {"PEN", "Pens", 3, 199, 597}, {"BAG", "A bag", 1, 2500, 2500}}}
	}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			appendList(nil, list)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			want := httpx.List[orderJSON]{Data: make([]orderJSON, 0, len(list.Data))}
			for _, o := range list.Data {
				want.Data = append(want.Data, toOrderJSON(o))
			}
			referenceJSON(b, want)
		}
	})
}
