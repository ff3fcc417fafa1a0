package httpx

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
)

// recorder is the one ResponseWriter wrapper that AccessLog, Metrics and
// Recover share (each reuses it if an outer one installed it), recording the
// status and counting body bytes.
type recorder struct {
	http.ResponseWriter
	status int // 0 until the final header is written
	bytes  int64
}

func recorderFor(w http.ResponseWriter) *recorder {
	if rec, ok := w.(*recorder); ok {
		return rec
	}
	return &recorder{ResponseWriter: w}
}

func (rec *recorder) WriteHeader(code int) {
	// 1xx other than 101 are interim; the final status is still to come.
	if rec.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(b)
	rec.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (Flush, deadlines).
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

func (rec *recorder) wrote() bool { return rec.status != 0 }

// statusAfter is the status the client gets once the handler is done: what
// was written, else 200 as net/http sends; a handler that panicked before
// writing anything counts as a 500.
func (rec *recorder) statusAfter(returned bool) int {
	switch {
	case rec.status != 0:
		return rec.status
	case returned:
		return http.StatusOK
	default:
		return http.StatusInternalServerError
	}
}

// AccessLog returns a middleware that logs exactly one line per request, at
// INFO whatever the status: the line records traffic, while the cause of a
// 5xx is logged separately at ERROR by [Error] or [Recover], so each failure
// is reported once. The line has method, route (the pattern, or "unmatched"),
// path, status, duration_ms, bytes (response body), request_id, client_ip
// when known (see [SetClientIP]), user_id when known, err when [Error] answered a 4xx (the error's whole text, of which the
// client read only the message), and the attributes each extra function
// returns; extra sees the request context as AccessLog received it, after the
// handler has run.
//
// AccessLog also makes logger the request's logger (see [Logger]), which is
// how [Error] logs. It must run inside [RequestID] and outside [Routes].
func AccessLog(logger *slog.Logger, extra ...func(context.Context) []slog.Attr) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			info := InfoFrom(r.Context())
			info.logger = logger
			rec := recorderFor(w)
			returned := false
			defer func() {
				attrs := []slog.Attr{
					slog.String("method", r.Method),
					slog.String("route", routeLabel(info)),
					slog.String("path", r.URL.Path),
					slog.Int("status", rec.statusAfter(returned)),
					slog.Float64("duration_ms", float64(time.Since(start))/float64(time.Millisecond)),
					slog.Int64("bytes", rec.bytes),
					slog.String("request_id", info.RequestID),
				}
				if info.ClientIP.IsValid() {
					attrs = append(attrs, slog.String("client_ip", info.ClientIP.String()))
				}
				if info.UserID != "" {
					attrs = append(attrs, slog.String("user_id", info.UserID))
				}
				if info.err != "" {
					attrs = append(attrs, slog.String("err", info.err))
				}
				for _, f := range extra {
					attrs = append(attrs, f(r.Context())...)
				}
				logger.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
			}()
			next.ServeHTTP(rec, r)
			returned = true
		})
	}
}

// Recover returns a middleware that turns a panic into a 500 problem+json, so
// one bad request does not take the server down. The panic is logged at ERROR
// with request_id and stack. If the response had already started, a 500 can
// no longer be sent, so Recover aborts the connection instead (panicking with
// http.ErrAbortHandler, which net/http handles quietly): the client then sees
// a failure rather than a truncated body that looks complete.
// http.ErrAbortHandler itself is passed on untouched.
func Recover(logger *slog.Logger) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := recorderFor(w)
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger.LogAttrs(r.Context(), slog.LevelError, "panic",
					slog.String("request_id", RequestIDFrom(r.Context())),
					slog.String("panic", fmt.Sprint(v)),
					slog.String("stack", string(debug.Stack())))
				if rec.wrote() {
					panic(http.ErrAbortHandler)
				}
				Problem(rec, r, http.StatusInternalServerError, "internal error")
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

// Timeout returns a middleware that gives the handler's context a deadline d
// from now, so every database call and outbound request made with it stops in
// time. Handlers that fail with context.DeadlineExceeded answer 503 through
// [Error]. It does not cut a handler that ignores its context short.
func Timeout(d time.Duration) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// LimitBody returns a middleware that caps request bodies at n bytes; reading
// past the cap fails with *http.MaxBytesError, which [Decode] reports as 413.
// Mount it outside AccessLog, Metrics and Recover: given the server's own
// ResponseWriter, http.MaxBytesReader can also close the connection after an
// oversized body.
func LimitBody(n int64) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r2 := r.WithContext(r.Context()) // handlers must not modify the request they get
			r2.Body = http.MaxBytesReader(w, r.Body, n)
			next.ServeHTTP(w, r2)
		})
	}
}

// SecurityHeaders returns a middleware that sets the headers a JSON API should
// send on every response: no MIME sniffing, no framing, no referrer, a
// content security policy that allows nothing, same-origin resource policy,
// and Cache-Control: no-store.
//
// no-store is the default because responses carry tokens, API keys and
// personal data that no browser or shared cache should keep; a handler
// whose answer is public (a key set, a document) replaces it by setting its
// own Cache-Control before writing.
func SecurityHeaders() Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Cache-Control", "no-store")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
			h.Set("Cross-Origin-Resource-Policy", "same-origin")
			next.ServeHTTP(w, r)
		})
	}
}

// RequireHTTPS returns a middleware for servers behind a TLS-terminating load
// balancer, mounted only in production. A request the balancer received over
// plain HTTP (X-Forwarded-Proto: http) is redirected with 308, which keeps
// the method and body, to the same host, path and query over https. Every
// response carries Strict-Transport-Security for two years, subdomains
// included, so browsers stop trying http at all.
//
// When X-Forwarded-Proto holds a list, the last entry is the one the nearest
// proxy (ours) added; earlier ones are whatever the client sent.
func RequireHTTPS() Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
			proto := r.Header.Get("X-Forwarded-Proto")
			if i := strings.LastIndexByte(proto, ','); i >= 0 {
				proto = proto[i+1:]
			}
			if strings.EqualFold(strings.TrimSpace(proto), "http") {
				http.Redirect(w, r, "https://"+r.Host+r.URL.RequestURI(), http.StatusPermanentRedirect)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
