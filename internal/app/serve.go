package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/rightsize/rightsize/internal/auth"
	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/config"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/mail"
	"github.com/rightsize/rightsize/internal/platform/resilience"
	"github.com/rightsize/rightsize/internal/platform/telemetry"
)

func newLogger(cfg config.Config, stdout io.Writer) *slog.Logger {
	return telemetry.NewLogger(stdout, cfg.LogLevel, func(ctx context.Context) []slog.Attr {
		if id := httpx.RequestIDFrom(ctx); id != "" {
			return []slog.Attr{slog.String("request_id", id)}
		}
		return nil
	})
}

func openDB(ctx context.Context, cfg config.Config, logger *slog.Logger, d *Deps) (*database.DB, error) {
	o := database.Options{
		Dialect:         database.Dialect(cfg.DBDialect),
		DSN:             cfg.DBDSN,
		MaxOpenConns:    cfg.DBMaxOpenConns,
		MaxIdleConns:    cfg.DBMaxIdleConns,
		ConnMaxLifetime: cfg.DBConnMaxLifetime,
		QueryTimeout:    cfg.QueryTimeout,
		SlowQuery:       cfg.SlowQuery,
		Logger:          logger,
	}
	if d != nil {
		o.Registerer = d.Registry
	}
	return database.Open(ctx, o)
}

// signingKeys parses AUTH_SIGNING_KEY or, in development when it is unset,
// uses a key kept under DATA_DIR (created on first start), so that tokens
// survive restarts without any set-up.
func signingKeys(cfg config.Config, logger *slog.Logger) (*authn.Keys, error) {
	spec := cfg.AuthSigningKey
	if spec == "" {
		var created bool
		var err error
		spec, created, err = authn.LoadOrCreateDevKey(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("AUTH_SIGNING_KEY unset and no development key: %w", err)
		}
		logger.Warn("AUTH_SIGNING_KEY is not set: using the development key in DATA_DIR; set the variable in production",
			slog.String("file", filepath.Join(cfg.DataDir, authn.DevKeyFile)), slog.Bool("created", created))
	}
	keys, err := authn.ParseKeys(spec)
	if err != nil {
		return nil, usagef("AUTH_SIGNING_KEY: %v", err)
	}
	logger.Info("access token keys", slog.Any("kids", keys.KeyIDs())) // the first signs
	return keys, nil
}

// serve runs the selected services' routes and, if cfg.Worker, the job worker,
// until ctx is cancelled; then it shuts down in order.
func serve(ctx context.Context, cfg config.Config, all []Service, stdout io.Writer) error {
	services, err := selectServices(all, cfg.Services)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stdout)
	reg := telemetry.NewRegistry()
	d := Deps{Config: cfg, Logger: logger, Registry: reg}
	logger.Info("starting", slog.String("version", Version), slog.Any("config", cfg))
	if cfg.CursorSecretGenerated {
		logger.Warn("CURSOR_SECRET is not set: using a random key, so pagination cursors do not survive a restart or work across instances")
	}
	if cfg.Production() && cfg.DBDialect == config.DialectSQLite {
		logger.Warn("production on SQLite: make sure DATA_DIR is on a persistent disk and only one instance runs")
	}

	d.DB, err = openDB(ctx, cfg, logger, &d)
	if err != nil {
		return err
	}
	defer d.DB.Close()
	if cfg.AutoMigrate {
		if err := migrateUp(ctx, d.DB, logger); err != nil {
			return err
		}
	}

	if d.Keys, err = signingKeys(cfg, logger); err != nil {
		return err
	}
	d.Authenticator = authn.NewAuthenticator(d.Keys, auth.APIKeyLookup(d.DB), nil)

	d.Mailer, err = mail.New(cfg.SMTPURL, cfg.MailFrom, resilience.Settings{Timeout: cfg.OutboundTimeout}, logger, resilience.NewMetrics(reg))
	if err != nil {
		return fmt.Errorf("SMTP_URL: %w", err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &mail.SendWorker{Mailer: d.Mailer})
	var periodic []*river.PeriodicJob
	for _, s := range all {
		if s.Workers != nil {
			s.Workers(workers, d)
		}
		if s.Periodic != nil {
			periodic = append(periodic, s.Periodic(d)...)
		}
	}
	jobsOpts := jobs.Options{
		Work:        cfg.Worker,
		Concurrency: cfg.WorkerConcurrency,
		Periodic:    periodic,
		Logger:      logger,
		Registerer:  reg,
	}
	if cfg.DBDialect == config.DialectPostgres {
		jobsOpts.PostgresURL = cfg.DBDSN
	}
	d.Jobs, err = jobs.New(ctx, d.DB, workers, jobsOpts)
	if err != nil {
		return err
	}
	defer d.Jobs.Close()

	var ready atomic.Bool
	api := &http.Server{
		Handler:           NewServer(d, services, &ready),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       cfg.RequestTimeout,
		// A handler's context ends at RequestTimeout; the extra second lets it
		// write the 503 that says so before the connection is cut.
		WriteTimeout:   cfg.RequestTimeout + time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	metrics := &http.Server{
		Handler:           telemetry.MetricsHandler(reg),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second,
	}
	if cfg.TLSCertFile != "" {
		if _, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
			return usagef("TLS_CERT_FILE, TLS_KEY_FILE: %v", err)
		}
	}
	// Listen before serving, so a taken port fails start-up instead of a goroutine.
	apiLn, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return fmt.Errorf("PORT: %w", err)
	}
	metricsLn, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		apiLn.Close()
		return fmt.Errorf("METRICS_ADDR: %w", err)
	}

	serveErr := make(chan error, 2)
	go func() {
		if cfg.TLSCertFile != "" {
			serveErr <- api.ServeTLS(apiLn, cfg.TLSCertFile, cfg.TLSKeyFile)
		} else {
			serveErr <- api.Serve(apiLn)
		}
	}()
	go func() { serveErr <- metrics.Serve(metricsLn) }()
	if err := d.Jobs.Start(ctx); err != nil {
		api.Close()
		metrics.Close()
		return err
	}
	ready.Store(true)
	names := make([]string, len(services))
	for i, s := range services {
		names[i] = s.Name
	}
	logger.Info("listening",
		slog.String("addr", apiLn.Addr().String()),
		slog.String("metrics_addr", metricsLn.Addr().String()),
		slog.Any("services", names),
		slog.Bool("worker", cfg.Worker))

	var runErr error
	select {
	case <-ctx.Done():
		ready.Store(false)
		logger.Info("shutting down", slog.Any("cause", context.Cause(ctx)))
	case runErr = <-serveErr:
		logger.Error("server failed; shutting down", slog.Any("err", runErr))
	}
	return errors.Join(runErr, shutdown(cfg, logger, &ready, api, metrics, d.Jobs))
}

// shutdown stops the process in order, within SHUTDOWN_TIMEOUT: /ready turns
// 503 and, for SHUTDOWN_DELAY, the load balancer sees it and stops routing
// here; then the listener closes while in-flight requests finish and the
// worker stops fetching and finishes its running jobs (both at once); then
// the metrics listener closes. The caller closes the database last.
func shutdown(cfg config.Config, logger *slog.Logger, ready *atomic.Bool, api, metrics *http.Server, jobs *jobs.Client) error {
	start := time.Now()
	ready.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if cfg.ShutdownDelay > 0 {
		select {
		case <-time.After(cfg.ShutdownDelay):
		case <-ctx.Done():
		}
	}

	var wg sync.WaitGroup
	var apiErr, jobsErr error
	wg.Go(func() {
		if apiErr = api.Shutdown(ctx); apiErr != nil {
			api.Close()
			apiErr = fmt.Errorf("in-flight requests did not finish within SHUTDOWN_TIMEOUT: %w", apiErr)
		}
	})
	wg.Go(func() {
		if jobsErr = jobs.Stop(ctx); jobsErr != nil {
			jobsErr = fmt.Errorf("running jobs did not finish within SHUTDOWN_TIMEOUT: %w", jobsErr)
		}
	})
	wg.Wait()
	metricsErr := metrics.Shutdown(ctx)
	if metricsErr != nil {
		metrics.Close()
	}
	err := errors.Join(apiErr, jobsErr, metricsErr)
	if err != nil {
		logger.Error("shutdown incomplete", slog.Any("err", err), slog.Duration("took", time.Since(start)))
		return err
	}
	logger.Info("shut down", slog.Float64("took_ms", float64(time.Since(start))/float64(time.Millisecond)))
	return nil
}
