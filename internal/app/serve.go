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
	"strings"
	"sync"
	"time"

	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/config"
	"github.com/rightsize/rightsize/internal/platform/telemetry"
)

// serve builds rightsize, serves the mounted services' routes and, if
// WORKER, works jobs, until ctx is cancelled; then it shuts down in order.
func serve(ctx context.Context, cfg *loaded, stdout io.Writer) error {
	p := cfg.platform
	if p.TLSCertFile != "" {
		if _, err := tls.LoadX509KeyPair(p.TLSCertFile, p.TLSKeyFile); err != nil {
			return usagef("TLS_CERT_FILE, TLS_KEY_FILE: %v", err)
		}
	}
	a, err := build(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	defer a.Close()
	s, err := a.listen()
	if err != nil {
		return err
	}
	return a.run(ctx, s, stdout)
}

// servers are the public and the internal (metrics, pprof) HTTP servers,
// with their listeners.
type servers struct {
	api, metrics     *http.Server
	apiLn, metricsLn net.Listener
}

// listen opens both listeners before anything serves, so that a taken port
// fails start-up rather than a goroutine.
func (a *App) listen() (*servers, error) {
	p := a.cfg.platform
	s := &servers{
		api: &http.Server{
			Handler:           a.Handler(),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       p.RequestTimeout,
			// A handler's context ends at RequestTimeout; the extra second
			// lets it write the 503 that says so before the connection is cut.
			WriteTimeout:   p.RequestTimeout + time.Second,
			IdleTimeout:    2 * time.Minute,
			MaxHeaderBytes: 64 << 10,
			ErrorLog:       slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
		},
		metrics: &http.Server{
			Handler:           telemetry.MetricsHandler(a.registry),
			ReadHeaderTimeout: 5 * time.Second,
			// Long enough for a 30 s CPU profile, pprof's default.
			WriteTimeout: time.Minute,
		},
	}
	var err error
	if s.apiLn, err = net.Listen("tcp", p.Addr()); err != nil {
		return nil, fmt.Errorf("PORT: %w", err)
	}
	if s.metricsLn, err = net.Listen("tcp", p.MetricsAddr); err != nil {
		s.apiLn.Close()
		return nil, fmt.Errorf("METRICS_ADDR: %w", err)
	}
	return s, nil
}

// run serves on s and works jobs until ctx is cancelled or a server fails,
// then shuts down.
func (a *App) run(ctx context.Context, s *servers, stdout io.Writer) error {
	p := a.cfg.platform
	serveErr := make(chan error, 2)
	go func() {
		if p.TLSCertFile != "" {
			serveErr <- s.api.ServeTLS(s.apiLn, p.TLSCertFile, p.TLSKeyFile)
		} else {
			serveErr <- s.api.Serve(s.apiLn)
		}
	}()
	go func() { serveErr <- s.metrics.Serve(s.metricsLn) }()
	if err := a.Start(ctx); err != nil {
		s.api.Close()
		s.metrics.Close()
		return err
	}
	names, _ := a.mounted()
	a.logger.Info("listening",
		slog.String("addr", s.apiLn.Addr().String()),
		slog.String("metrics_addr", s.metricsLn.Addr().String()),
		slog.Any("services", names),
		slog.Bool("worker", p.Worker))
	if !p.Production() && textLogs(p, stdout) {
		// For a person at a terminal; JSON logs stay pure JSON.
		printBanner(stdout, p, a.cfg.own, s.apiLn.Addr(), s.metricsLn.Addr(), names)
	}

	var runErr error
	select {
	case <-ctx.Done():
		a.logger.Info("shutting down", slog.Any("cause", context.Cause(ctx)))
	case runErr = <-serveErr:
		a.logger.Error("server failed; shutting down", slog.Any("err", runErr))
	}
	return errors.Join(runErr, a.shutdown(s))
}

// shutdown stops the process in order, within SHUTDOWN_TIMEOUT: /ready turns
// 503 and, for SHUTDOWN_DELAY, the load balancer sees it and stops routing
// here; then the listener closes while in-flight requests finish and the
// worker stops fetching and finishes its running jobs (both at once); then
// the metrics listener closes. The caller closes the database last.
func (a *App) shutdown(s *servers) error {
	p := a.cfg.platform
	start := time.Now()
	a.ready.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), p.ShutdownTimeout)
	defer cancel()
	if p.ShutdownDelay > 0 {
		select {
		case <-time.After(p.ShutdownDelay):
		case <-ctx.Done():
		}
	}

	var wg sync.WaitGroup
	var apiErr, jobsErr error
	wg.Go(func() {
		if apiErr = s.api.Shutdown(ctx); apiErr != nil {
			s.api.Close()
			apiErr = fmt.Errorf("in-flight requests did not finish within SHUTDOWN_TIMEOUT: %w", apiErr)
		}
	})
	wg.Go(func() {
		if jobsErr = a.Stop(ctx); jobsErr != nil {
			jobsErr = fmt.Errorf("running jobs did not finish within SHUTDOWN_TIMEOUT: %w", jobsErr)
		}
	})
	wg.Wait()
	metricsErr := s.metrics.Shutdown(ctx)
	if metricsErr != nil {
		s.metrics.Close()
	}
	err := errors.Join(apiErr, jobsErr, metricsErr)
	if err != nil {
		a.logger.Error("shutdown incomplete", slog.Any("err", err), slog.Float64("duration_ms", ms(time.Since(start))))
		return err
	}
	a.logger.Info("shut down", slog.Float64("duration_ms", ms(time.Since(start))))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// printBanner writes the first screen a developer sees: where the API, the
// metrics and the data are, and where mail goes.
func printBanner(w io.Writer, p config.Config, own settings, api, metrics net.Addr, services []string) {
	host := func(a net.Addr) string {
		if tcp, ok := a.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
			return fmt.Sprintf("localhost:%d", tcp.Port)
		}
		return a.String()
	}
	scheme := "http"
	if p.TLSCertFile != "" {
		scheme = "https"
	}
	worker := "off"
	if p.Worker {
		worker = "on"
	}
	data := p.DBDSN + " (SQLite)"
	if p.DBDialect == config.DialectPostgres {
		data = "PostgreSQL (DATABASE_URL)"
	}
	mail := "sent through SMTP_URL"
	if p.SMTPURL == "" {
		mail = "printed here, because SMTP_URL is unset"
	}
	keys := "AUTH_SIGNING_KEY"
	if own.SigningKey == "" {
		keys = "development key in " + filepath.Join(p.DataDir, authn.DevKeyFile)
	}
	cursors := "CURSOR_SECRET"
	if p.CursorSecretGenerated {
		cursors = "a random key: CURSOR_SECRET is unset, so cursors die with the process"
	}
	release, _, _ := version()
	fmt.Fprintf(w, `
  rightsize %s · services: %s · worker %s
  API      %s://%s
  metrics  http://%s/metrics   (pprof: /debug/pprof/)
  data     %s
  mail     %s
  tokens   signed with the %s
  cursors  signed with %s
  settings rightsize config · every variable: rightsize help env

`, release, strings.Join(services, ", "), worker, scheme, host(api), host(metrics), data, mail, keys, cursors)
}
