package orders_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkReads measures the two reads bench/run loads, in process (no
// network): one order, and a page of 20 orders of 3 items.
//
//	go test ./internal/orders -run '^$' -bench Reads -cpuprofile cpu.pprof
func BenchmarkReads(b *testing.B) {
	bundle := setup(b)
	ada := bundle.NewUser(b, "ada@example.com")
	var last string
	for range 20 {
		last = bundle.create(b, ada.Access, order("EUR", item("BOOK", 1, 1250), item("PEN", 3, 199), item("BAG", 1, 2500)))["id"].(string)
	}
	for _, bm := range []struct{ name, path string }{
		{"order", "/v1/orders/" + last},
		{"page of 20", "/v1/orders?limit=20"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("GET", bm.path, nil)
				req.Header.Set("Authorization", "Bearer "+ada.Access)
				rec := httptest.NewRecorder()
				bundle.Handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d %s", bm.path, rec.Code, rec.Body)
				}
			}
		})
	}
}
