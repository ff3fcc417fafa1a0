package httpx

import (
	"fmt"
	"net/http"
)

// unmatched is the route label of requests no pattern matched. Labelling them
// by raw path would let any client create unbounded metric series.
const unmatched = "unmatched"

// Routes wraps mux so that the rest of this package knows the route:
//
//   - Once the mux has served, [Info].Pattern holds the pattern that matched
//     ("" if none), for the access log and metrics. ServeMux records the
//     pattern on the very *http.Request it was given, but middlewares outside
//     see an earlier copy of the request, hence the Info.
//   - The mux's own 404 and 405 responses become problem+json with the same
//     status (405 keeps its Allow header), like every other error.
//
// Redirects the mux issues (to add a trailing slash or clean a path) pass
// through unchanged.
func Routes(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := InfoFrom(r.Context())
		defer func() { info.Pattern = r.Pattern }() // deferred: panics need a route label too
		mux.ServeHTTP(&muxErrorWriter{ResponseWriter: w, r: r}, r)
	})
}

// muxErrorWriter replaces the plain-text 404 and 405 that ServeMux writes when
// no pattern matches. It recognises them by r.Pattern being empty: the mux has
// set it by the time anything is written, and every matched handler has one.
type muxErrorWriter struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool
}

func (m *muxErrorWriter) WriteHeader(code int) {
	if m.r.Pattern != "" || m.replaced || (code != http.StatusNotFound && code != http.StatusMethodNotAllowed) {
		m.ResponseWriter.WriteHeader(code)
		return
	}
	m.replaced = true
	detail := fmt.Sprintf("no route for %s %s", m.r.Method, m.r.URL.Path)
	if code == http.StatusMethodNotAllowed {
		detail = fmt.Sprintf("method %s is not allowed on %s", m.r.Method, m.r.URL.Path)
	}
	Problem(m.ResponseWriter, m.r, code, detail)
}

func (m *muxErrorWriter) Write(b []byte) (int, error) {
	if m.replaced {
		return len(b), nil // the mux's text body; ours is already written
	}
	return m.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (m *muxErrorWriter) Unwrap() http.ResponseWriter { return m.ResponseWriter }

func routeLabel(info *Info) string {
	if info.Pattern == "" {
		return unmatched
	}
	return info.Pattern
}

// Router is where a service registers its routes; *http.ServeMux is one.
type Router interface {
	Handle(pattern string, handler http.Handler)
}
