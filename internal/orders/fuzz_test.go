package orders

import (
	"encoding/json"
	"testing"
)

// FuzzNewOrder feeds create bodies, as a client would send them, to the
// check every create passes: it never panics, and what it accepts is an
// order the database takes (positive quantities, amounts in range, a total
// that is the sum of its lines).
func FuzzNewOrder(f *testing.F) {
	for _, s := range []string{
		`{"currency":"EUR","items":[{"sku":"A","name":"Book","quantity":2,"unit_amount":1250}]}`,
		`{"currency":"JPY","items":[{"sku":"A","name":"A","quantity":1000000,"unit_amount":9007199254740991}]}`,
		`{"currency":"KWD","items":[{"sku":"A-1.b_2","name":"Ünïcode ✓","quantity":1,"unit_amount":0},{"sku":"B","name":"B","quantity":3,"unit_amount":3}]}`,
		`{"currency":"EUR","items":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in struct {
			Currency string `json:"currency"`
			Items    []struct {
				SKU        string `json:"sku"`
				Name       string `json:"name"`
				Quantity   int64  `json:"quantity"`
				UnitAmount int64  `json:"unit_amount"`
			} `json:"items"`
		}
		if json.Unmarshal(body, &in) != nil {
			return
		}
		o := NewOrder{Currency: in.Currency}
		for _, it := range in.Items {
			o.Items = append(o.Items, NewItem(it))
		}
		items, total, err := o.check()
		if err != nil {
			return
		}
		if len(items) == 0 || len(items) > MaxItems {
			t.Fatalf("accepted %d items", len(items))
		}
		var sum int64
		for _, it := range items {
			if it.Quantity < 1 || it.Quantity > MaxQuantity || it.UnitAmount < 0 || it.Amount != it.Quantity*it.UnitAmount || it.Amount > MaxAmount {
				t.Fatalf("accepted item %+v", it)
			}
			sum += it.Amount
		}
		if sum != total || total > MaxAmount {
			t.Fatalf("total %d, want the sum of the lines %d, at most %d", total, sum, int64(MaxAmount))
		}
	})
}
