package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"golang.org/x/term"

	"github.com/rightsize/rightsize/internal/auth"
	"github.com/rightsize/rightsize/internal/billing"
	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/orders"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/config"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/idempotency"
	"github.com/rightsize/rightsize/internal/platform/mail"
	"github.com/rightsize/rightsize/internal/platform/resilience"
	"github.com/rightsize/rightsize/internal/platform/telemetry"
	"github.com/rightsize/rightsize/internal/service"
)

// App is rightsize assembled: the platform built once, and every service of
// the catalog built on it, its workers and periodic jobs registered. It
// serves nothing until Handler is mounted, and works no job until Start.
type App struct {
	cfg      *loaded
	logger   *slog.Logger
	registry *prometheus.Registry
	deps     service.Deps
	// services are built from cfg.catalog, in its order.
	services      []service.Service
	authenticator *authn.Authenticator
	// ready reports whether the process takes traffic: true from Start
	// until shutdown begins.
	ready atomic.Bool

	// openapi is the document of the mounted services, built once.
	openapi []byte

	handlerOnce    sync.Once
	handler        http.Handler
	routes         []Route // registered by the handler's services
	platformRoutes []Route // the handler's own
}

// New builds rightsize as configured by getenv, logging to stdout: it opens
// the database, applies the migrations if AUTO_MIGRATE, and builds the
// platform and every service. Close it when done.
func New(ctx context.Context, getenv func(string) string, stdout io.Writer) (*App, error) {
	cfg, err := load(getenv, catalog)
	if err != nil {
		return nil, err
	}
	return build(ctx, cfg, stdout)
}

func build(ctx context.Context, cfg *loaded, stdout io.Writer) (_ *App, err error) {
	p := cfg.platform
	a := &App{cfg: cfg, logger: newLogger(p, stdout), registry: telemetry.NewRegistry()}
	// First: a service's malformed fragment is a bug to find before
	// anything is opened.
	if a.openapi, err = document(cfg.mounted); err != nil {
		return nil, err
	}
	if p.Production() {
		a.logger.Info("starting", slog.String("version", versionLine()), slog.Any("config", p))
		if p.DBDialect == config.DialectSQLite {
			a.logger.Warn("production on SQLite: make sure DATA_DIR is on a persistent disk and only one instance runs")
		}
	}
	if p.CursorSecretGenerated && !textLogs(p, stdout) {
		// On a terminal the banner says so.
		a.logger.Warn("CURSOR_SECRET is not set: using a random key, so pagination cursors do not survive a restart or work across instances")
	}

	db, err := openDB(ctx, p, a.logger, a.registry)
	if err != nil {
		return nil, err
	}
	a.deps.DB = db
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if p.AutoMigrate {
		if err := migrateUp(ctx, db, cfg.catalog, a.logger, !p.Production()); err != nil {
			return nil, err
		}
	}
	keys, err := signingKeys(p, cfg.own, a.logger)
	if err != nil {
		return nil, err
	}
	breakers := resilience.NewMetrics(a.registry)
	var mailOpts []mail.SMTPOption
	if p.Production() {
		// The messages carry sign-in links: never in clear across a network.
		mailOpts = append(mailOpts, mail.RequireTLS())
	}
	mailer, err := mail.New(p.SMTPURL, p.MailFrom, resilience.Settings{Timeout: p.OutboundTimeout}, a.logger, breakers, mailOpts...)
	if err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	jc, err := jobs.New(ctx, db, jobs.Options{
		Work:        p.Worker,
		Concurrency: p.WorkerConcurrency,
		Logger:      a.logger,
		Registerer:  a.registry,
	})
	if err != nil {
		return nil, err
	}
	river.AddWorker(jc.Workers(), &mail.SendWorker{Mailer: mailer})
	// A request holds its key past its own deadline, so that a live one
	// is never presumed dead and run twice.
	idem := idempotency.New(db, idempotency.Options{Lease: p.RequestTimeout + 30*time.Second})
	idem.Workers(jc.Workers())
	if err := jc.AddPeriodic(idem.Periodic()...); err != nil {
		return nil, err
	}
	a.deps = service.Deps{
		Config:      p,
		DB:          db,
		Jobs:        jc,
		Keys:        keys,
		Mailer:      mailer,
		Logger:      a.logger,
		Registry:    a.registry,
		Breakers:    breakers,
		Idempotency: idem,
	}

	for i, def := range cfg.catalog {
		svc, err := def.Build(cfg.services[i], a.deps)
		if err != nil {
			return nil, fmt.Errorf("build service %s: %w", def.Name, err)
		}
		// Every process that works jobs registers every service's workers,
		// whichever routes it mounts.
		svc.Workers(jc.Workers())
		if err := jc.AddPeriodic(svc.Periodic()...); err != nil {
			return nil, fmt.Errorf("service %s: %w", def.Name, err)
		}
		a.services = append(a.services, svc)
	}

	// The wiring: what one part exports, another declares and takes. Only
	// app connects them, so no service imports another.
	a.authenticator = authn.NewAuthenticator(keys, auth.APIKeyLookup(db), nil)
	if users, ok := serviceOf[*auth.Service](a.services); ok {
		if shop, ok := serviceOf[*orders.Service](a.services); ok {
			shop.SetRecipientLookup(func(ctx context.Context, userID string) (orders.Recipient, error) {
				u, err := users.User(ctx, userID)
				return orders.Recipient{Email: u.Email, Name: u.Name}, err
			})
		}
	}
	if shop, ok := serviceOf[*orders.Service](a.services); ok {
		if bill, ok := serviceOf[*billing.Service](a.services); ok {
			wireBilling(bill, shop)
		}
	}
	if users, ok := serviceOf[*auth.Service](a.services); ok {
		if bill, ok := serviceOf[*billing.Service](a.services); ok {
			users.SetDeletionCheck(bill.CheckDeletable)
			bill.SetLoginCheck(users.CheckLogin)
		}
	}
	return a, nil
}

// wireBilling lets billing take payment for orders and mark them paid, and
// the api service enforce what billing says a plan allows.
func wireBilling(bill *billing.Service, shop *orders.Service) {
	bill.SetOrders(
		func(ctx context.Context, userID, orderID string) (billing.PayableOrder, error) {
			o, err := shop.Order(ctx, userID, orderID)
			return billing.PayableOrder{ID: o.ID, Currency: o.Currency, TotalAmount: o.TotalAmount, Pending: o.Status == orders.Pending}, err
		},
		func(ctx context.Context, orderID, paymentRef string) error {
			_, err := shop.MarkPaid(ctx, orderID, paymentRef)
			return err
		},
	)
	shop.SetAllowanceLookup(func(ctx context.Context, userID string) (orders.Allowance, error) {
		e, err := bill.Entitlements(ctx, userID)
		return orders.Allowance{Plan: e.Plan, OrdersPerMonth: e.OrdersPerMonth, Upgrade: e.Upgrade}, err
	})
}

// serviceOf returns the built service of type S, if the catalog has it (the
// real one has one of each; tests build others).
func serviceOf[S service.Service](services []service.Service) (S, bool) {
	for _, s := range services {
		if s, ok := s.(S); ok {
			return s, true
		}
	}
	var zero S
	return zero, false
}

// Service returns the built service named name (as in SERVICES), mounted or
// not, or nil: for tests that call its operations.
func (a *App) Service(name string) service.Service {
	i := slices.IndexFunc(a.cfg.catalog, func(d service.Def) bool { return d.Name == name })
	if i < 0 {
		return nil
	}
	return a.services[i]
}

// Deps returns the platform the services were built on.
func (a *App) Deps() service.Deps { return a.deps }

// Start begins working jobs (if WORKER) and marks the process ready.
func (a *App) Start(ctx context.Context) error {
	if err := a.deps.Jobs.Start(ctx); err != nil {
		return err
	}
	a.ready.Store(true)
	return nil
}

// Stop marks the process not ready and stops working jobs, waiting for the
// running ones until ctx ends.
func (a *App) Stop(ctx context.Context) error {
	a.ready.Store(false)
	return a.deps.Jobs.Stop(ctx)
}

// Close releases the job client's connection and closes the database. Call
// it last.
func (a *App) Close() error {
	if a.deps.Jobs != nil {
		a.deps.Jobs.Close()
	}
	if a.deps.DB != nil {
		return a.deps.DB.Close()
	}
	return nil
}

// mounted returns the built services this process serves (SERVICES), with
// their names.
func (a *App) mounted() (names []string, svcs []service.Service) {
	names = []string{} // logged: [] reads better than null
	for _, def := range a.cfg.mounted {
		i := slices.IndexFunc(a.cfg.catalog, func(d service.Def) bool { return d.Name == def.Name })
		names = append(names, def.Name)
		svcs = append(svcs, a.services[i])
	}
	return names, svcs
}

func newLogger(cfg config.Config, stdout io.Writer) *slog.Logger {
	// Every line logged with a request's context names the request and the
	// client it came from, so a security warning deep in a service says who.
	return telemetry.NewLogger(stdout, cfg.LogLevel, textLogs(cfg, stdout), func(ctx context.Context) []slog.Attr {
		info := httpx.InfoFrom(ctx)
		var attrs []slog.Attr
		if info.RequestID != "" {
			attrs = append(attrs, slog.String("request_id", info.RequestID))
		}
		if info.ClientIP.IsValid() {
			attrs = append(attrs, slog.String("client_ip", info.ClientIP.String()))
		}
		return attrs
	})
}

func openDB(ctx context.Context, cfg config.Config, logger *slog.Logger, reg prometheus.Registerer) (*database.DB, error) {
	return database.Open(ctx, database.Options{
		Dialect:         database.Dialect(cfg.DBDialect),
		DSN:             cfg.DBDSN,
		MaxOpenConns:    cfg.DBMaxOpenConns,
		MaxIdleConns:    cfg.DBMaxIdleConns,
		ConnMaxIdleTime: cfg.DBConnMaxIdleTime,
		ConnMaxLifetime: cfg.DBConnMaxLifetime,
		QueryTimeout:    cfg.QueryTimeout,
		SlowQuery:       cfg.SlowQuery,
		Logger:          logger,
		Registerer:      reg,
	})
}

// signingKeys parses AUTH_SIGNING_KEY or, in development when it is unset,
// uses a key kept under DATA_DIR (created on first start), so that tokens
// survive restarts without any set-up.
func signingKeys(p config.Config, own settings, logger *slog.Logger) (*authn.Keys, error) {
	spec := own.SigningKey
	if spec == "" {
		var created bool
		var err error
		spec, created, err = authn.LoadOrCreateDevKey(p.DataDir)
		if err != nil {
			return nil, fmt.Errorf("AUTH_SIGNING_KEY unset and no development key: %w", err)
		}
		logger.Debug("AUTH_SIGNING_KEY is not set: using the development key in DATA_DIR",
			slog.String("file", filepath.Join(p.DataDir, authn.DevKeyFile)), slog.Bool("created", created))
	}
	keys, err := authn.ParseKeys(spec)
	if err != nil {
		return nil, usagef("AUTH_SIGNING_KEY: %v", err)
	}
	logger.Debug("access token keys", slog.Any("kids", keys.KeyIDs())) // the first signs
	return keys, nil
}

// textLogs reports whether logs are text: LOG_FORMAT says, or, when it is
// unset, a person is reading a terminal in development.
func textLogs(cfg config.Config, stdout io.Writer) bool {
	switch cfg.LogFormat {
	case "text":
		return true
	case "json":
		return false
	}
	f, ok := stdout.(*os.File)
	return ok && !cfg.Production() && term.IsTerminal(int(f.Fd()))
}
