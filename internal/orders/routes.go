package orders

import "github.com/rightsize/rightsize/internal/platform/httpx"

// Routes registers the api service's whole API on mux. Every route needs
// credentials; app's guard lets an API key with the read scope reach only
// the GETs.
func (s *Service) Routes(mux httpx.Router) {
	mux.Handle("POST /v1/orders", s.idempotent(s.createOrder()))
	mux.Handle("GET /v1/orders", s.listOrders())
	mux.Handle("GET /v1/orders/{id}", s.getOrder())
	mux.Handle("POST /v1/orders/{id}/cancel", s.cancelOrder())
}
