package app

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/openapi"
	"github.com/rightsize/rightsize/internal/platform/ratelimit"
)

// guardedMux registers a service's routes on the shared mux, each behind
// guard unless it is public: a route is protected unless its service says
// otherwise, so forgetting is safe.
// It records each route, for App.Routes.
type guardedMux struct {
	mux     *http.ServeMux
	service string
	public  []string
	guard   httpx.Middleware
	routes  *[]Route
}

func (g guardedMux) Handle(pattern string, h http.Handler) {
	public := slices.Contains(g.public, pattern)
	if !public {
		h = g.guard(h)
	}
	g.mux.Handle(pattern, h)
	*g.routes = append(*g.routes, Route{Service: g.service, Pattern: pattern, Public: public})
}

// testRoutes is set only in binaries built with the rightsize_testhooks tag,
// for tests of the real binary that need a slow request.
var testRoutes func(mux *http.ServeMux)

// Handler returns the public HTTP handler: the platform routes (/health,
// /ready, /openapi.json, /docs) and the routes of the mounted services, behind the middleware
// every request passes through, outermost first. It is built once: each
// service's Routes runs once.
func (a *App) Handler() http.Handler {
	a.handlerOnce.Do(func() { a.handler = a.newHandler() })
	return a.handler
}

func (a *App) newHandler() http.Handler {
	p := a.cfg.platform
	mux := http.NewServeMux()
	// The platform's routes, open to all.
	for _, r := range []struct {
		pattern string
		h       http.Handler
	}{
		{"GET /health", health()},
		{"GET /ready", a.readiness()},
		{"GET /openapi.json", openapi.DocumentHandler(a.openapi)},
		{"GET /docs", openapi.DocsHandler()},
		{"GET /docs/{file}", openapi.DocsAssetHandler()},
	} {
		mux.Handle(r.pattern, r.h)
		a.platformRoutes = append(a.platformRoutes, Route{Pattern: r.pattern, Public: true})
	}
	guard := a.authenticated()
	names, services := a.mounted()
	for i, s := range services {
		s.Routes(guardedMux{mux: mux, service: names[i], public: s.Public(), guard: guard, routes: &a.routes})
	}
	if testRoutes != nil {
		testRoutes(mux)
	}

	mw := []httpx.Middleware{
		httpx.SecurityHeaders(),
		httpx.RequestID(),
		ratelimit.ResolveClientIP(a.proxies()),
		httpx.LimitBody(p.MaxBodyBytes),
		countQueries,
		httpx.AccessLog(a.logger, queryAttrs),
		httpx.Metrics(a.registry),
	}
	if p.Production() {
		mw = append(mw, httpx.RequireHTTPS())
	}
	// CORS answers preflights before the router, where a route's guard
	// would refuse them for want of the credentials browsers never send
	// with one.
	mw = append(mw, httpx.CORS(p.CORSAllowedOrigins), httpx.Recover(a.logger), httpx.Timeout(p.RequestTimeout))
	return httpx.Chain(httpx.Routes(mux), mw...)
}

// proxies are the proxies whose X-Forwarded-For is believed.
func (a *App) proxies() ratelimit.Proxies {
	return ratelimit.Proxies{Count: a.cfg.platform.TrustedProxyCount, CIDRs: a.cfg.platform.TrustedProxyCIDRs}
}

// authenticated is what every non-public route runs behind: the per-IP limit
// on rejected credentials, the credential check, then the per-principal rate
// limit.
//
// The per-IP limit is checked before the credential is, so that a client
// that keeps presenting bad tokens or keys stops costing a signature check
// or a database lookup each; only a rejected credential (a 401 before any
// principal was established) counts against it, so a client whose
// credentials work is never limited by it. Requests without an
// Authorization header cost nothing to refuse and are neither checked nor
// counted.
func (a *App) authenticated() httpx.Middleware {
	limit := ratelimit.New(a.cfg.own.RateLimitAPI, ratelimit.MaxKeys).Middleware(func(r *http.Request) (string, bool) {
		p, ok := authn.PrincipalFrom(r.Context())
		if p.APIKeyID != "" {
			return "key:" + p.APIKeyID, ok
		}
		return "user:" + p.UserID, ok
	})
	require := authn.Require(a.authenticator)
	rejected := ratelimit.New(a.cfg.own.RateLimitBadCredentials, ratelimit.MaxKeys)
	byIP := ratelimit.ByIP(a.cfg.platform.TrustedProxyCount)
	return func(h http.Handler) http.Handler {
		next := require(limit(scoped(h)))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ip, ok := byIP(r)
			if !ok || len(r.Header.Values("Authorization")) == 0 {
				next.ServeHTTP(w, r)
				return
			}
			if err := rejected.Blocked(ip); err != nil {
				// A blocked IP may be a NAT shared with honest clients: an
				// access token that verifies still gets through (checked
				// locally; a cached one costs a microsecond). API keys,
				// which cost a database lookup, and failing tokens are
				// refused before any further work.
				if apiKey(r) || !a.tokenVerifies(r) {
					httpx.Error(w, r, err)
					return
				}
			}
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			if sw.status == http.StatusUnauthorized && httpx.InfoFrom(r.Context()).UserID == "" {
				rejected.Allow(ip, time.Now())
			}
		})
	}
}

// apiKey reports whether r's credential is an API key.
func apiKey(r *http.Request) bool {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.EqualFold(scheme, "Bearer") && strings.HasPrefix(strings.TrimSpace(cred), authn.APIKeyPrefix)
}

// tokenVerifies reports whether r carries an access token that verifies.
func (a *App) tokenVerifies(r *http.Request) bool {
	_, err := a.authenticator.Authenticate(r)
	return err == nil
}

// scoped refuses a request its credential's scope does not allow: a
// read-only API key writes nothing, on any service's route.
func scoped(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, _ := authn.PrincipalFrom(r.Context()); !p.Allows(r.Method) {
			httpx.Error(w, r, apperr.New(apperr.ErrForbidden, "this API key is read-only: it may only GET"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter records the status a handler answers with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// health answers 200 with what was built: the release, and the commit and
// its time where the build recorded them, so a deploy can be checked by
// asking the instances what they run.
func health() http.Handler {
	release, commit, built := version()
	body := map[string]string{"status": "ok", "version": release}
	if commit != "" {
		body["commit"] = commit
	}
	if built != "" {
		body["built"] = built
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.Encode(w, http.StatusOK, body)
	})
}

// readiness answers 200 while the process takes traffic and its database
// answers, 503 otherwise, so a load balancer routes around it.
func (a *App) readiness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.ready.Load() {
			httpx.Problem(w, r, http.StatusServiceUnavailable, "shutting down")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.deps.DB.Ping(ctx); err != nil {
			httpx.Logger(r.Context()).Warn("readiness: database unreachable", slog.Any("err", err))
			httpx.Problem(w, r, http.StatusServiceUnavailable, "database unreachable")
			return
		}
		httpx.Encode(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// countQueries counts each request's database queries, for the access log.
func countQueries(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if database.StatsFrom(r.Context()) != nil { // a test's own
			next.ServeHTTP(w, r)
			return
		}
		ctx, _ := database.WithStats(r.Context())
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func queryAttrs(ctx context.Context) []slog.Attr {
	s := database.StatsFrom(ctx)
	if s == nil {
		return nil
	}
	return []slog.Attr{
		slog.Int64("db_queries", s.Queries()),
		slog.Float64("db_ms", float64(s.Duration())/float64(time.Millisecond)),
	}
}

// Route is one route a mounted service, or the platform, registers.
type Route struct {
	// Service is the service's name; "" for the platform's routes.
	Service string
	Pattern string
	// Public routes need no credentials.
	Public bool
}

// Routes lists every route of the mounted services, in registration order:
// the server's whole surface, for tests that walk it.
func (a *App) Routes() []Route {
	a.Handler()
	return slices.Clone(a.routes)
}

// PlatformRoutes lists the routes of the platform itself (/health, /ready,
// /openapi.json, /docs and its assets), all public, in registration order.
func (a *App) PlatformRoutes() []Route {
	a.Handler()
	return slices.Clone(a.platformRoutes)
}
