// Package database opens the one SQL database every service shares (SQLite by
// default, PostgreSQL in production) and runs every query under a deadline,
// timed, counted and logged when slow.
//
// Both dialects are reached through database/sql, so a *sql.DB can be handed
// to River and goose as is, and service code writes one kind of SQL: $1, $2
// placeholders work on both. On PostgreSQL that *sql.DB runs over one pgx
// pool, which DB.Query and DB.QueryRow use directly, so that reads scan
// straight into their destinations.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" driver
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect names the SQL database behind a DB.
type Dialect string

// The dialects rightsize runs on.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Options say which database to open and how to run queries on it.
type Options struct {
	Dialect Dialect
	// DSN is a PostgreSQL URL, or the path of the SQLite file (created with its
	// directory if missing).
	DSN          string
	MaxOpenConns int
	// MaxIdleConns bounds SQLite's idle connections; PostgreSQL's pool
	// keeps up to MaxOpenConns idle, each until ConnMaxIdleTime.
	MaxIdleConns    int
	ConnMaxIdleTime time.Duration
	ConnMaxLifetime time.Duration
	// QueryTimeout bounds every query that reaches the database; the caller's
	// own deadline wins when it is sooner.
	QueryTimeout time.Duration
	// SlowQuery is the duration above which a query is logged at WARN.
	SlowQuery time.Duration
	Logger    *slog.Logger
	// Registerer receives the query histogram and the pool collector; nil
	// registers nothing.
	Registerer prometheus.Registerer
}

// DB is the application's database handle. It is safe for concurrent use.
type DB struct {
	sql *sql.DB
	// pool is PostgreSQL's one pool of connections, nil on SQLite. sql
	// runs over it (stdlib.OpenDBFromPool) for River, goose and
	// transactions; DB's own Query and QueryRow use it directly, where pgx
	// scans each value straight into its destination instead of boxing
	// it for database/sql (a third of a list's CPU).
	pool         *pgxpool.Pool
	driver, dsn  string // to open a connection outside the pool
	dialect      Dialect
	queryTimeout time.Duration
	slowQuery    time.Duration
	log          *slog.Logger
	queryHist    *prometheus.HistogramVec
}

// sqlitePragmas make SQLite safe for concurrent writers: WAL lets reads run
// beside a write, busy_timeout waits for the lock instead of failing, and
// _txlock=immediate takes the write lock at BEGIN, because a deferred
// transaction that upgrades its lock later fails with SQLITE_BUSY whatever
// the timeout. _time_format=sqlite stores times in a sortable text form.
const sqlitePragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(NORMAL)&_txlock=immediate&_time_format=sqlite"

// Open opens and pings the database o describes.
func Open(ctx context.Context, o Options) (*DB, error) {
	var driver, dsn string
	switch o.Dialect {
	case SQLite:
		if err := os.MkdirAll(filepath.Dir(o.DSN), 0o700); err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		driver, dsn = "sqlite", "file:"+(&url.URL{Path: o.DSN}).EscapedPath()+"?"+sqlitePragmas
	case Postgres:
		driver, dsn = "pgx", o.DSN
	default:
		return nil, fmt.Errorf("database: unknown dialect %q", o.Dialect)
	}
	var sqlDB *sql.DB
	var pool *pgxpool.Pool
	if o.Dialect == Postgres {
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("database: open %s: %w", o.Dialect, err)
		}
		// pgxpool keeps up to MaxConns idle and closes each after
		// MaxConnIdleTime; it has no separate idle cap (MaxIdleConns is
		// SQLite's alone).
		cfg.MaxConns = int32(min(o.MaxOpenConns, math.MaxInt32))
		cfg.MaxConnIdleTime = o.ConnMaxIdleTime
		if cfg.MaxConnIdleTime <= 0 {
			cfg.MaxConnIdleTime = math.MaxInt64 // 0: keep them
		}
		cfg.MaxConnLifetime = o.ConnMaxLifetime // 0: forever, as pgxpool reads it
		if pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
			return nil, fmt.Errorf("database: open %s: %w", o.Dialect, err)
		}
		// Idle connections stay in the pool, not in database/sql.
		sqlDB = stdlib.OpenDBFromPool(pool)
	} else {
		var err error
		if sqlDB, err = sql.Open(driver, dsn); err != nil {
			return nil, fmt.Errorf("database: open %s: %w", o.Dialect, err)
		}
		sqlDB.SetMaxOpenConns(o.MaxOpenConns)
		sqlDB.SetMaxIdleConns(o.MaxIdleConns)
		sqlDB.SetConnMaxIdleTime(o.ConnMaxIdleTime)
		sqlDB.SetConnMaxLifetime(o.ConnMaxLifetime)
	}

	db := &DB{
		sql:          sqlDB,
		pool:         pool,
		driver:       driver,
		dsn:          dsn,
		dialect:      o.Dialect,
		queryTimeout: o.QueryTimeout,
		slowQuery:    o.SlowQuery,
		log:          o.Logger,
		queryHist: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "db_query_duration_seconds",
			Help:    "Time from sending a query to its first result, by operation (select, insert, update, delete, other).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"op", "outcome"}),
	}
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	if db.queryTimeout <= 0 {
		db.queryTimeout = 10 * time.Second
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if o.Registerer != nil {
		err := errors.Join(
			o.Registerer.Register(db.queryHist),
			o.Registerer.Register(collectors.NewDBStatsCollector(sqlDB, string(o.Dialect))),
		)
		if err == nil && pool != nil {
			err = o.Registerer.Register(poolCollector{pool})
		}
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("database: register metrics: %w", err)
		}
	}
	return db, nil
}

// ConnString returns the driver's connection string db was opened with, for
// a library that opens connections of its own outside the pool (River's
// LISTEN on PostgreSQL).
func (db *DB) ConnString() string { return db.dsn }

// Dialect reports which database db talks to.
func (db *DB) Dialect() Dialect { return db.dialect }

// SQL returns the underlying pool, for libraries that take a *sql.DB (River,
// goose). Queries made through it bypass the deadline, timing and counting.
func (db *DB) SQL() *sql.DB { return db.sql }

// Ping checks that the database answers a query, under the query deadline.
// It is an ordinary (timed, counted) query, so readiness probes show up in
// the query metrics like any other.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("database: ping %s: %w", db.dialect, err)
	}
	return nil
}

// Close closes the pool; in-flight queries finish first.
func (db *DB) Close() error {
	err := db.sql.Close()
	if db.pool != nil {
		db.pool.Close()
	}
	return err
}

// Querier runs queries. Both *DB and *Tx satisfy it, so store functions take a
// Querier and work inside or outside a transaction.
//
// Every error from a query, including those its [Rows] and [Row] report
// later, wraps the driver's error once with the statement's first line,
// redacted: `query "SELECT id FROM users WHERE email = $1": ...`. So the log
// line of a 500 names the query that failed, while errors.Is (sql.ErrNoRows,
// context.DeadlineExceeded) and [IsUniqueViolation] still see the cause. The
// text is for logs; never show it to a client.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(ctx context.Context, query string, args ...any) (*Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *Row
}

var (
	_ Querier = (*DB)(nil)
	_ Querier = (*Tx)(nil)
)

// Exec runs a statement that returns no rows.
func (db *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return exec(ctx, db, db.sql, query, args)
}

// Query runs a query that returns rows. The caller must Close the rows (or
// read them to the end), which also releases the query's deadline.
func (db *DB) Query(ctx context.Context, query string, args ...any) (*Rows, error) {
	if db.pool != nil {
		return pgQueryRows(ctx, db, query, args)
	}
	return queryRows(ctx, db, db.sql, query, args)
}

// QueryRow runs a query expected to return at most one row; its error, such as
// one matching sql.ErrNoRows, is reported by Row.Scan.
func (db *DB) QueryRow(ctx context.Context, query string, args ...any) *Row {
	if db.pool != nil {
		return pgQueryRow(ctx, db, query, args)
	}
	return queryRow(ctx, db, db.sql, query, args)
}

// Tx is a transaction opened by DB.Transact.
type Tx struct {
	db *DB
	tx *sql.Tx
}

// SQL returns the underlying transaction, for libraries that take a *sql.Tx,
// such as River's InsertTx.
func (tx *Tx) SQL() *sql.Tx { return tx.tx }

// Exec runs a statement that returns no rows, inside the transaction.
func (tx *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return exec(ctx, tx.db, tx.tx, query, args)
}

// Query runs a query that returns rows, inside the transaction. The caller must
// Close the rows or read them to the end.
func (tx *Tx) Query(ctx context.Context, query string, args ...any) (*Rows, error) {
	return queryRows(ctx, tx.db, tx.tx, query, args)
}

// QueryRow runs a query expected to return at most one row, inside the
// transaction.
func (tx *Tx) QueryRow(ctx context.Context, query string, args ...any) *Row {
	return queryRow(ctx, tx.db, tx.tx, query, args)
}

// Transact runs fn in a transaction. It commits if fn returns nil, and rolls
// back if fn returns an error or panics (the panic then continues). fn must
// not keep tx after it returns.
//
// On SQLite the transaction holds the write lock from its first statement, so
// keep fn short and never call back into db (outside tx) from within it.
func (db *DB) Transact(ctx context.Context, fn func(tx *Tx) error) (err error) {
	sqlTx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("database: begin: %w", err)
	}
	returned := false // false after a panic or runtime.Goexit (t.Fatal)
	defer func() {
		if !returned || err != nil {
			sqlTx.Rollback()
			return
		}
		if err = sqlTx.Commit(); err != nil {
			err = fmt.Errorf("database: commit: %w", err)
		}
	}()
	err = fn(&Tx{db: db, tx: sqlTx})
	returned = true
	return err
}

// poolCollector exports the PostgreSQL pool's state, as
// collectors.NewDBStatsCollector does database/sql's: how full it is, and how
// often and how long requests waited for a connection.
type poolCollector struct{ pool *pgxpool.Pool }

var (
	poolMaxDesc      = prometheus.NewDesc("db_pool_max_conns", "Most connections the PostgreSQL pool opens (DB_MAX_OPEN_CONNS).", nil, nil)
	poolTotalDesc    = prometheus.NewDesc("db_pool_conns", "Connections open in the PostgreSQL pool, by state.", []string{"state"}, nil)
	poolAcquireDesc  = prometheus.NewDesc("db_pool_acquires_total", "Connections handed out by the PostgreSQL pool.", nil, nil)
	poolWaitDesc     = prometheus.NewDesc("db_pool_waits_total", "Hand-outs that waited because every connection was busy.", nil, nil)
	poolWaitSecsDesc = prometheus.NewDesc("db_pool_wait_seconds_total", "Time spent waiting for a busy pool.", nil, nil)
)

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolMaxDesc, poolTotalDesc, poolAcquireDesc, poolWaitDesc, poolWaitSecsDesc} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(poolMaxDesc, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(poolTotalDesc, prometheus.GaugeValue, float64(s.AcquiredConns()), "in_use")
	ch <- prometheus.MustNewConstMetric(poolTotalDesc, prometheus.GaugeValue, float64(s.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(poolAcquireDesc, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolWaitDesc, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolWaitSecsDesc, prometheus.CounterValue, s.EmptyAcquireWaitTime().Seconds())
}
