package httpx

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/netip"
)

// HeaderRequestID is the header that carries the request ID in both directions.
const HeaderRequestID = "X-Request-ID"

// Info is what the middlewares learn about one request as it is served.
//
// It lives in the request context as a pointer, so that what an inner layer
// records (the matched pattern, the authenticated user) is visible to the
// outer layers after the handler returns, even though each r.WithContext in
// between copies the *http.Request. An Info belongs to the goroutine serving
// its request: set its fields only from that goroutine.
type Info struct {
	// RequestID identifies the request in logs, headers and error bodies.
	RequestID string
	// Pattern is the ServeMux pattern that matched, set by [Routes] once the
	// mux has served; "" when nothing matched.
	Pattern string
	// UserID is the authenticated user, set by [SetUserID]; "" if anonymous.
	UserID string
	// ClientIP is the address of the client, behind any trusted proxies, set
	// once by [SetClientIP] (ratelimit.ResolveClientIP in the app's chain);
	// the zero Addr until then, or when it cannot be known.
	ClientIP netip.Addr
	// clientIPSet tells a resolved but unknowable ClientIP from one nobody
	// resolved.
	clientIPSet bool

	logger *slog.Logger
	// err is the full text of the error a 4xx answered, set by [Error] for
	// the access log; the client read only its message.
	err string
}

type infoKey struct{}

// RequestID returns a middleware that gives every request an ID and an [Info].
//
// An incoming X-Request-ID is kept when it is well-formed (1 to 64 characters
// of A-Z a-z 0-9 . _ -), so a caller or load balancer can correlate its logs
// with ours; anything else is replaced by a fresh random ID, because the ID is
// written into logs and headers and must not carry arbitrary client bytes. The
// ID is echoed in the X-Request-ID response header.
func RequestID() Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(HeaderRequestID)
			if !validRequestID(id) {
				id = rand.Text()
			}
			w.Header().Set(HeaderRequestID, id)
			info := &Info{RequestID: id}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
		})
	}
}

func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// InfoFrom returns the request's [Info]. It never returns nil: without
// [RequestID] in the chain it returns a fresh, empty Info that nobody else
// sees, so callers need no nil checks (and what they set is lost).
func InfoFrom(ctx context.Context) *Info {
	if info, ok := ctx.Value(infoKey{}).(*Info); ok {
		return info
	}
	return &Info{}
}

// RequestIDFrom returns the request ID, or "" outside a [RequestID] chain.
func RequestIDFrom(ctx context.Context) string {
	return InfoFrom(ctx).RequestID
}

// SetUserID records the authenticated user of the request, so the access log
// and [Logger] include it. The authentication middleware calls it.
func SetUserID(ctx context.Context, id string) {
	InfoFrom(ctx).UserID = id
}

// SetClientIP records the request's client address, so that the access log,
// [Logger] and per-IP limits use the one answer; the zero Addr records that
// it cannot be known.
func SetClientIP(ctx context.Context, a netip.Addr) {
	info := InfoFrom(ctx)
	info.ClientIP, info.clientIPSet = a, true
}

// ClientIPFrom returns the client address recorded by [SetClientIP], and
// whether one was recorded at all (possibly the zero Addr, when the address
// could not be known).
func ClientIPFrom(ctx context.Context) (netip.Addr, bool) {
	info := InfoFrom(ctx)
	return info.ClientIP, info.clientIPSet
}

// Logger returns the request-scoped logger: the one given to [AccessLog], with
// request_id and, once known, client_ip and user_id attached. Without
// AccessLog in the chain it returns a logger that discards everything.
func Logger(ctx context.Context) *slog.Logger {
	info := InfoFrom(ctx)
	if info.logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	l := info.logger.With(slog.String("request_id", info.RequestID))
	if info.ClientIP.IsValid() {
		l = l.With(slog.String("client_ip", info.ClientIP.String()))
	}
	if info.UserID != "" {
		l = l.With(slog.String("user_id", info.UserID))
	}
	return l
}
