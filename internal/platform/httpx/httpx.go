// Package httpx is the net/http plumbing every service shares: the middleware
// chain, request IDs, route-pattern bookkeeping, the one function that writes
// errors as problem+json (RFC 9457), strict JSON decoding, and cursor
// pagination.
//
// An error's kind picks the status; a client reads only the message chosen
// for it with package apperr, never the wrapped chain, which goes to the log
// (see [Error]).
//
// It imports no service. A server is assembled in one visible call to
// [Chain], outermost middleware first. ExampleChain shows the server's chain
// (as internal/app's Handler builds it) and why each middleware sits where
// it does.
//
// RequestID must run before (outside) every other middleware of this package:
// it creates the per-request [Info] that the others fill in and read, and
// [AccessLog] provides the logger [Error] uses.
package httpx

import "net/http"

// Middleware wraps a handler with behaviour that runs before and/or after it.
type Middleware func(http.Handler) http.Handler

// Chain returns h wrapped by m, with m[0] outermost: a request passes through
// m[0], then m[1], ..., then h. Keeping the whole chain in one call makes the
// order, which matters, visible in one place.
func Chain(h http.Handler, m ...Middleware) http.Handler {
	for i := len(m) - 1; i >= 0; i-- {
		h = m[i](h)
	}
	return h
}

// HandlerFunc is a handler that returns its error instead of writing it:
// ServeHTTP writes a non-nil error with [Error], so each handler reads as a
// straight line of steps, each ending the request on failure with a plain
// "return err". The handler must not have written a response when it returns
// an error.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP calls f and writes its error, if any.
func (f HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := f(w, r); err != nil {
		Error(w, r, err)
	}
}
