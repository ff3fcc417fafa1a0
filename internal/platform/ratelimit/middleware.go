package ratelimit

import (
	"net/http"

	"github.com/rightsize/rightsize/internal/platform/httpx"
)

// Middleware returns a middleware that limits requests by the key that key
// returns for them; a request for which key returns false is not limited
// (for instance, one without an authenticated principal, when limiting per
// principal). A request over the limit is answered by httpx.Error with 429
// problem+json and a Retry-After header (whole seconds, rounded up, at least
// 1) and does not reach the handler.
//
// Mount it inside httpx.RequestID, so the 429 carries a correlation_id, and,
// for a per-principal limit, inside the authentication middleware, so the
// principal is known.
func (l *Limiter) Middleware(key func(*http.Request) (string, bool)) httpx.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if k, ok := key(r); ok {
				if err := l.Check(k); err != nil {
					httpx.Error(w, r, err)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}
