// Package jobs runs background work on River, on the same database as the
// rest of the application: a job is inserted in the transaction that wrote the
// row that caused it, so a rolled-back change leaves no job behind and a
// committed one always has its job.
package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/rightsize/rightsize/internal/platform/database"
)

// Options configure a Client.
type Options struct {
	// Work makes the client fetch and run jobs; without it the client only
	// inserts them (a `serve --worker=false` process).
	Work bool
	// Concurrency is how many jobs run at once in this process.
	Concurrency int
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
}

// pollInterval bounds how long a committed job can wait before it is fetched
// when no notification arrives (always, on SQLite).
const pollInterval = 100 * time.Millisecond

// Client inserts jobs and, when configured to, works them.
type Client struct {
	river    *river.Client[*sql.Tx]
	workers  *river.Workers
	listener *pgxpool.Pool
	work     bool
}

// New builds a client over db with no workers yet: register them on
// [Client.Workers], and periodic jobs with [Client.AddPeriodic], before
// Start. It starts nothing. On PostgreSQL a working client opens a
// one-connection pool for LISTEN, so that a committed job starts without
// waiting for the next poll.
func New(ctx context.Context, db *database.DB, o Options) (*Client, error) {
	c := &Client{work: o.Work, workers: river.NewWorkers()}
	driver := driverFor(db)
	if db.Dialect() == database.Postgres && o.Work {
		cfg, err := pgxpool.ParseConfig(db.ConnString())
		if err != nil {
			return nil, fmt.Errorf("jobs: listener: %w", err)
		}
		cfg.MaxConns = 1
		c.listener, err = pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("jobs: listener: %w", err)
		}
		driver = riverdatabasesql.NewWithPgxListener(db.SQL(), c.listener)
	}

	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := &river.Config{
		Logger:            logger.With(slog.String("component", "river")),
		Workers:           c.workers,
		FetchCooldown:     10 * time.Millisecond,
		FetchPollInterval: pollInterval,
	}
	if o.Work {
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: o.Concurrency}}
		if o.Registerer != nil {
			m, err := newMetrics(o.Registerer)
			if err == nil {
				err = o.Registerer.Register(queueCollector{db: db, logger: logger})
			}
			if err != nil {
				c.Close()
				return nil, err
			}
			cfg.Middleware = []rivertype.Middleware{m}
		}
	}
	rc, err := river.NewClient(driver, cfg)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("jobs: %w", err)
	}
	c.river = rc
	return c, nil
}

// Workers is the bundle a job's worker is registered on, with
// river.AddWorker, before Start. A client that only inserts checks that each
// job it inserts has a worker registered, so it needs them too.
func (c *Client) Workers() *river.Workers { return c.workers }

// AddPeriodic adds periodic jobs, before Start. They are enqueued by
// whichever worker process is River's elected leader, so each runs once per
// interval however many processes run; a client that only inserts ignores
// them.
func (c *Client) AddPeriodic(jobs ...*river.PeriodicJob) error {
	if !c.work {
		return nil
	}
	if _, err := c.river.PeriodicJobs().AddManySafely(jobs); err != nil {
		return fmt.Errorf("jobs: periodic: %w", err)
	}
	return nil
}

// InsertTx enqueues a job inside tx: it becomes visible to workers when tx
// commits, and vanishes if tx rolls back.
func (c *Client) InsertTx(ctx context.Context, tx *database.Tx, args river.JobArgs, opts *river.InsertOpts) error {
	if _, err := c.river.InsertTx(ctx, tx.SQL(), args, opts); err != nil {
		return fmt.Errorf("jobs: insert %s: %w", args.Kind(), err)
	}
	return nil
}

// Start begins fetching and working jobs, if the client was built to work
// them; otherwise it does nothing. Jobs keep running until Stop.
func (c *Client) Start(ctx context.Context) error {
	if !c.work {
		return nil
	}
	// Work outlives ctx (often a request or start-up context): Stop ends it.
	if err := c.river.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	return nil
}

// Stop stops fetching new jobs and waits for running ones to finish. If ctx
// has a deadline, running jobs still going shortly before it are cancelled
// (River retries them later), so that Stop returns by the deadline.
func (c *Client) Stop(ctx context.Context) error {
	if !c.work {
		return nil
	}
	soft := ctx
	if deadline, ok := ctx.Deadline(); ok {
		// Keep a fifth of the time, at most 2 s, for cancelled jobs to return.
		margin := min(time.Until(deadline)/5, 2*time.Second)
		var cancel context.CancelFunc
		soft, cancel = context.WithDeadline(ctx, deadline.Add(-margin))
		defer cancel()
	}
	err := c.river.Stop(soft)
	if err != nil && ctx.Err() == nil && soft.Err() != nil {
		return errors.Join(err, c.river.StopAndCancel(ctx))
	}
	return err
}

// Close releases the listener connection. Call it after Stop.
func (c *Client) Close() {
	if c.listener != nil {
		c.listener.Close()
	}
}

// driverFor returns River's driver for db's dialect, without a listener.
func driverFor(db *database.DB) riverdriver.Driver[*sql.Tx] {
	if db.Dialect() == database.SQLite {
		return riversqlite.New(db.SQL())
	}
	return riverdatabasesql.New(db.SQL())
}

func migrator(db *database.DB) (*rivermigrate.Migrator[*sql.Tx], error) {
	return rivermigrate.New(driverFor(db), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
}

// Migrate applies River's own schema migrations and returns the ones applied.
// Run it after the application's migrations, as a separate step: River's
// migrations cannot run inside another migration tool's transaction.
func Migrate(ctx context.Context, db *database.DB) ([]database.Migration, error) {
	m, err := migrator(db)
	if err != nil {
		return nil, fmt.Errorf("river migrate: %w", err)
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("river migrate: %w", err)
	}
	applied := make([]database.Migration, 0, len(res.Versions))
	for _, v := range res.Versions {
		applied = append(applied, database.Migration{Version: int64(v.Version), Name: v.Name, Applied: true})
	}
	return applied, nil
}

// MigrationStatus lists River's schema migrations and whether each is applied.
func MigrationStatus(ctx context.Context, db *database.DB) ([]database.Migration, error) {
	m, err := migrator(db)
	if err != nil {
		return nil, fmt.Errorf("river migration status: %w", err)
	}
	existing, err := m.ExistingVersions(ctx)
	if err != nil {
		return nil, fmt.Errorf("river migration status: %w", err)
	}
	applied := make(map[int]bool, len(existing))
	for _, e := range existing {
		applied[e.Version] = true
	}
	all := m.AllVersions()
	list := make([]database.Migration, 0, len(all))
	for _, v := range all {
		list = append(list, database.Migration{Version: int64(v.Version), Name: v.Name, Applied: applied[v.Version]})
	}
	return list, nil
}

// Every returns a periodic job that enqueues args every interval, and once
// when the worker starts.
func Every(interval time.Duration, args river.JobArgs) *river.PeriodicJob {
	return river.NewPeriodicJob(
		river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return args, nil },
		&river.PeriodicJobOpts{RunOnStart: true},
	)
}
