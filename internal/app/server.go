package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/rightsize/rightsize/internal/auth"
	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/config"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/mail"
	"github.com/rightsize/rightsize/internal/platform/ratelimit"
)

// Deps are what a service is built from: the shared platform, never another
// service.
type Deps struct {
	Config config.Config
	DB     *database.DB
	// Keys sign and verify access tokens; Authenticator checks the
	// credentials of every route outside a service's Public list.
	Keys          *authn.Keys
	Authenticator *authn.Authenticator
	// Mailer sends email; only job workers use it.
	Mailer mail.Mailer
	// Jobs inserts jobs. It is nil while Workers runs, because the job client
	// is built from the workers.
	Jobs     *jobs.Client
	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// Service is one of rightsize's services: its name (as in SERVICES), its HTTP
// surface and its background work. Every process that works jobs registers
// every service's workers, whichever routes it mounts, so that no job waits
// for a process that knows its kind.
type Service struct {
	Name string
	// Routes registers the service's whole API on mux. Every route requires
	// credentials unless its pattern is in Public.
	Routes func(mux Router, d Deps)
	// Public lists the patterns of routes that need no credentials: those
	// that issue credentials, and webhooks that authenticate otherwise.
	Public []string
	// Workers, if set, registers the service's job workers.
	Workers func(w *river.Workers, d Deps)
	// Periodic, if set, lists the service's periodic jobs.
	Periodic func(d Deps) []*river.PeriodicJob
}

// Router is where a service registers its routes.
type Router interface {
	Handle(pattern string, handler http.Handler)
}

// guardedMux registers a service's routes on the shared mux, each behind
// guard unless it is public: a route is protected unless its service says
// otherwise, so forgetting is safe.
type guardedMux struct {
	mux    *http.ServeMux
	public []string
	guard  httpx.Middleware
}

func (g guardedMux) Handle(pattern string, h http.Handler) {
	if !slices.Contains(g.public, pattern) {
		h = g.guard(h)
	}
	g.mux.Handle(pattern, h)
}

// limiterKeys bounds each rate limiter's memory: about 11 MiB with IP keys
// (114 bytes a key, measured in ratelimit's tests), more with long keys such
// as email addresses, which are capped at 128 bytes.
const limiterKeys = 100_000

// catalog lists every service of rightsize, in mounting order.
var catalog = []Service{
	{
		Name:   "auth",
		Public: auth.Public,
		Routes: func(mux Router, d Deps) {
			auth.New(auth.Options{
				DB:              d.DB,
				Jobs:            d.Jobs,
				Keys:            d.Keys,
				PublicURL:       d.Config.PublicURL,
				AccessTokenTTL:  d.Config.AccessTokenTTL,
				RefreshTokenTTL: d.Config.RefreshTokenTTL,
				IPLimit:         ratelimit.New(d.Config.RateLimitAuth, limiterKeys),
				AccountLimit:    ratelimit.New(d.Config.RateLimitAccount, limiterKeys),
				TrustedProxies:  d.Config.TrustedProxyCount,
				CursorSecret:    d.Config.CursorSecret,
			}).Routes(mux)
		},
		Workers:  func(w *river.Workers, d Deps) { auth.RegisterWorkers(w, d.DB, d.Mailer, d.Config.PublicURL) },
		Periodic: func(Deps) []*river.PeriodicJob { return auth.Periodic() },
	},
}

// selectServices returns the services of all named in names; nil names means
// all of them.
func selectServices(all []Service, names []string) ([]Service, error) {
	if names == nil {
		return all, nil
	}
	var picked []Service
	for _, name := range names {
		i := slices.IndexFunc(all, func(s Service) bool { return s.Name == name })
		if i < 0 {
			known := make([]string, len(all))
			for j, s := range all {
				known[j] = s.Name
			}
			if len(known) == 0 {
				return nil, usagef("SERVICES: unknown service %q: this build has no services yet", name)
			}
			return nil, usagef("SERVICES: unknown service %q: want a comma-separated list of %s", name, strings.Join(known, ", "))
		}
		picked = append(picked, all[i])
	}
	return picked, nil
}

// testRoutes is set only in binaries built with the rightsize_testhooks tag,
// for tests of the real binary that need a slow request.
var testRoutes func(mux *http.ServeMux)

// NewServer returns the public HTTP handler: the platform routes (/health,
// /ready) and the routes of services, behind the middleware every request
// passes through, outermost first. ready reports whether the process takes
// traffic; it turns false when shutdown begins.
func NewServer(d Deps, services []Service, ready *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /health", health())
	mux.Handle("GET /ready", readiness(d.DB, ready))
	guard := authenticated(d)
	for _, s := range services {
		s.Routes(guardedMux{mux: mux, public: s.Public, guard: guard}, d)
	}
	if testRoutes != nil {
		testRoutes(mux)
	}

	mw := []httpx.Middleware{
		httpx.SecurityHeaders(),
		httpx.RequestID(),
		httpx.LimitBody(d.Config.MaxBodyBytes),
		countQueries,
		httpx.AccessLog(d.Logger, queryAttrs),
		httpx.Metrics(d.Registry),
	}
	if d.Config.Production() {
		mw = append(mw, httpx.RequireHTTPS())
	}
	mw = append(mw, httpx.Recover(d.Logger), httpx.Timeout(d.Config.RequestTimeout))
	return httpx.Chain(httpx.Routes(mux), mw...)
}

// authenticated is what every non-public route runs behind: the credential
// check, then the per-principal rate limit.
func authenticated(d Deps) httpx.Middleware {
	if d.Authenticator == nil {
		// Only tests build servers without one; a protected route then fails
		// loudly rather than open.
		return func(http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				httpx.Error(w, r, errors.New("no authenticator configured"))
			})
		}
	}
	limit := ratelimit.New(d.Config.RateLimitAPI, limiterKeys).Middleware(func(r *http.Request) (string, bool) {
		p, ok := authn.PrincipalFrom(r.Context())
		if p.APIKeyID != "" {
			return "key:" + p.APIKeyID, ok
		}
		return "user:" + p.UserID, ok
	})
	require := authn.Require(d.Authenticator)
	return func(h http.Handler) http.Handler { return require(limit(h)) }
}

func health() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.Encode(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// readiness answers 200 while the process takes traffic and its database
// answers, 503 otherwise, so a load balancer routes around it.
func readiness(db *database.DB, ready *atomic.Bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			httpx.Problem(w, r, http.StatusServiceUnavailable, "shutting down")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := db.Ping(ctx); err != nil {
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
