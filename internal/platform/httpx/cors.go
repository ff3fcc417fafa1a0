package httpx

import (
	"net/http"
	"strconv"
	"strings"
)

// What CORS grants an allowed origin. The API's clients authenticate with
// an Authorization header, never cookies, so no credentials mode is ever
// granted (no Access-Control-Allow-Credentials): a page can use the API only
// with a token it holds itself.
var (
	corsMethods = strings.Join([]string{
		http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
	}, ", ")
	corsAllowHeaders  = strings.Join([]string{"Authorization", "Content-Type", "Idempotency-Key", HeaderRequestID}, ", ")
	corsExposeHeaders = strings.Join([]string{HeaderRequestID, "Retry-After"}, ", ")
)

// CORSMaxAge is how long a browser may reuse a preflight's answer: long
// enough to spare most requests a preflight (Chrome caps it at 2 hours), short
// enough that removing an origin takes effect within minutes.
const CORSMaxAge = 10 * 60 // seconds

// CORS returns a middleware that lets web pages of the given origins call
// the API from a browser. origins are compared exactly with the request's
// Origin header, so they must be as a browser writes them
// ("https://app.example.com", "http://localhost:5173"); "*" is never
// granted. With no origins it does nothing, and browsers keep blocking
// cross-origin calls.
//
// For an allowed origin:
//
//   - A preflight (OPTIONS with Access-Control-Request-Method), to any path,
//     is answered here with 204 and what is allowed: every method the API
//     uses, the headers Authorization, Content-Type, Idempotency-Key and
//     X-Request-ID, for [CORSMaxAge] seconds. It needs no credentials, since
//     browsers send none with it, so CORS must run before any
//     authentication; it never reaches a handler.
//   - Every other response carries Access-Control-Allow-Origin with that
//     origin, and exposes X-Request-ID and Retry-After to the page; errors
//     (401, 429) included, so the page can read them.
//
// A request from any other origin gets no CORS header at all, and its
// preflight goes on to the router, which answers it as any OPTIONS request
// (405): the browser then refuses the call. Every response says Vary: Origin,
// since whether it carries the grant depends on that header.
func CORS(origins []string) Middleware {
	if len(origins) == 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		if o != "*" {
			allowed[o] = true
		}
	}
	maxAge := strconv.Itoa(CORSMaxAge)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Add("Vary", "Origin")
			origin := r.Header.Values("Origin")
			// One Origin header or none: a request with two is not from a
			// browser, and granting either would be a guess.
			if len(origin) != 1 || !allowed[origin[0]] {
				next.ServeHTTP(w, r)
				return
			}
			h.Set("Access-Control-Allow-Origin", origin[0])
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", corsMethods)
				h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
				h.Set("Access-Control-Max-Age", maxAge)
				w.WriteHeader(http.StatusNoContent)
				return
			}
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
			next.ServeHTTP(w, r)
		})
	}
}
