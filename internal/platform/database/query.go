package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// conn is what *sql.DB and *sql.Tx have in common.
type conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Rows is the result of a query. Closing it, or reading it to the end, also
// releases the query's deadline. Its errors name the statement, as those of
// [DB.Query] do. It reads database/sql's rows, or pgx's on PostgreSQL
// outside a transaction; Scan takes the same destinations either way.
type Rows struct {
	sql    *sql.Rows
	pg     pgx.Rows
	query  string
	cancel context.CancelFunc
}

// Next prepares the next row; see sql.Rows.Next.
func (r *Rows) Next() bool {
	var ok bool
	if r.pg != nil {
		ok = r.pg.Next()
	} else {
		ok = r.sql.Next()
	}
	if !ok {
		r.cancel()
	}
	return ok
}

// Scan copies the current row's columns into dest; see sql.Rows.Scan. A nil
// in dest skips its column, on both dialects, as pgx's Scan does. Scan may
// be called more than once on the same row.
func (r *Rows) Scan(dest ...any) error {
	if r.pg != nil {
		return queryError(r.query, r.pg.Scan(dest...))
	}
	for i, d := range dest {
		if d == nil {
			dest = slices.Clone(dest)
			for j := i; j < len(dest); j++ {
				if dest[j] == nil {
					dest[j] = skip{}
				}
			}
			break
		}
	}
	return queryError(r.query, r.sql.Scan(dest...))
}

// skip is the sql.Scanner that stands for a nil destination.
type skip struct{}

func (skip) Scan(any) error { return nil }

// Err returns the error, if any, that ended the iteration; see sql.Rows.Err.
func (r *Rows) Err() error {
	if r.pg != nil {
		return queryError(r.query, r.pg.Err())
	}
	return queryError(r.query, r.sql.Err())
}

// Close closes the rows; see sql.Rows.Close.
func (r *Rows) Close() error {
	var err error
	if r.pg != nil {
		r.pg.Close()
		err = r.pg.Err()
	} else {
		err = r.sql.Close()
	}
	r.cancel()
	return queryError(r.query, err)
}

// Columns returns the names of the columns.
func (r *Rows) Columns() ([]string, error) {
	if r.pg != nil {
		fields := r.pg.FieldDescriptions()
		names := make([]string, len(fields))
		for i, f := range fields {
			names[i] = f.Name
		}
		return names, nil
	}
	return r.sql.Columns()
}

// Row is the result of QueryRow.
type Row struct {
	sql    *sql.Row
	pg     pgx.Row
	query  string
	cancel context.CancelFunc
	// For pg, observed at Scan, where pgx first reports an error.
	db    *DB
	ctx   context.Context
	start time.Time
}

// Scan copies the row's columns into dest. When the query matched nothing it
// returns an error for which errors.Is(err, sql.ErrNoRows) holds; like every
// other error it names the statement.
func (r *Row) Scan(dest ...any) error {
	defer r.cancel()
	if r.pg != nil {
		err := r.pg.Scan(dest...) // pgx.ErrNoRows is an sql.ErrNoRows
		r.db.observe(r.ctx, r.query, r.start, err)
		return queryError(r.query, err)
	}
	return queryError(r.query, r.sql.Scan(dest...))
}

func exec(ctx context.Context, db *DB, c conn, query string, args []any) (sql.Result, error) {
	ctx, cancel := db.deadline(ctx)
	defer cancel()
	start := time.Now()
	res, err := c.ExecContext(ctx, query, args...)
	db.observe(ctx, query, start, err)
	return res, queryError(query, err)
}

func queryRows(ctx context.Context, db *DB, c conn, query string, args []any) (*Rows, error) {
	ctx, cancel := db.deadline(ctx)
	start := time.Now()
	rows, err := c.QueryContext(ctx, query, args...)
	db.observe(ctx, query, start, err)
	if err != nil {
		cancel()
		return nil, queryError(query, err)
	}
	return &Rows{sql: rows, query: query, cancel: cancel}, nil
}

func queryRow(ctx context.Context, db *DB, c conn, query string, args []any) *Row {
	ctx, cancel := db.deadline(ctx)
	start := time.Now()
	row := c.QueryRowContext(ctx, query, args...)
	err := row.Err()
	db.observe(ctx, query, start, err)
	return &Row{sql: row, query: query, cancel: cancel}
}

// pgQueryRows is queryRows on PostgreSQL's pool. pgx reports a query's
// failure with its rows, so the first result is waited for here, to time
// the query as database/sql's path does.
func pgQueryRows(ctx context.Context, db *DB, query string, args []any) (*Rows, error) {
	ctx, cancel := db.deadline(ctx)
	start := time.Now()
	rows, err := db.pool.Query(ctx, query, args...)
	db.observe(ctx, query, start, err)
	if err != nil {
		cancel()
		return nil, queryError(query, err)
	}
	return &Rows{pg: rows, query: query, cancel: cancel}, nil
}

func pgQueryRow(ctx context.Context, db *DB, query string, args []any) *Row {
	ctx, cancel := db.deadline(ctx)
	start := time.Now()
	row := db.pool.QueryRow(ctx, query, args...)
	return &Row{pg: row, query: query, cancel: cancel, db: db, ctx: ctx, start: start}
}

// queryError names the statement err came from, so that every error a query
// returns, logged far from here as the cause of a 500, says which query
// failed. The statement is shortened to its first line and redacted like the
// slow-query log's; errors.Is and errors.As (sql.ErrNoRows,
// context.DeadlineExceeded, [IsUniqueViolation]) see through the wrapping.
// Each error is wrapped here once, where the driver returned it.
func queryError(query string, err error) error {
	if err == nil {
		return nil
	}
	return &statementError{query: query, err: err}
}

// statementError redacts its statement only when its text is read: most
// query errors (sql.ErrNoRows above all) are handled and never logged.
type statementError struct {
	query string
	err   error
}

func (e *statementError) Error() string {
	return fmt.Sprintf("query %q: %v", statementName(e.query), e.err)
}

func (e *statementError) Unwrap() error { return e.err }

// statementName is the first line of query that holds SQL (comments
// skipped), redacted. Literals are replaced across the whole statement first,
// so that one spanning several lines cannot leak its first part.
func statementName(query string) string {
	line := firstLine(stringLiteral.ReplaceAllString(query, "?"))
	return Redact(line)
}

// firstLine returns the first line of query that is neither blank nor a
// comment, or "" if there is none.
func firstLine(query string) string {
	for line := range strings.Lines(query) {
		if f := strings.Fields(line); len(f) > 0 && !strings.HasPrefix(f[0], "--") {
			return line
		}
	}
	return ""
}

// deadline bounds a query by the query timeout unless ctx already ends sooner.
func (db *DB) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, db.queryTimeout)
}

func (db *DB) observe(ctx context.Context, query string, start time.Time, err error) {
	elapsed := time.Since(start)
	if s, ok := ctx.Value(statsKey{}).(*Stats); ok {
		s.queries.Add(1)
		s.nanos.Add(int64(elapsed))
	}
	outcome := "ok"
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		outcome = "error"
	}
	db.queryHist.WithLabelValues(operation(query), outcome).Observe(elapsed.Seconds())
	if elapsed >= db.slowQuery {
		db.log.WarnContext(ctx, "slow query",
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.String("statement", Redact(query)),
			slog.String("outcome", outcome))
	}
}

// operation is the statement's leading keyword, a label with few values.
func operation(query string) string {
	var word string
	if f := strings.Fields(firstLine(query)); len(f) > 0 {
		word = f[0]
	}
	switch w := strings.ToLower(word); w {
	case "select", "insert", "update", "delete":
		return w
	case "with":
		return "select"
	default:
		return "other"
	}
}

var (
	stringLiteral  = regexp.MustCompile(`'(?:[^']|'')*'`)
	numericLiteral = regexp.MustCompile(`(^|[^$\w])\d+(?:\.\d+)?\b`) // not $1 placeholders
	whitespace     = regexp.MustCompile(`\s+`)
)

// Redact returns query on one line with its literal values replaced by "?".
// Values passed as arguments never appear in a statement; literals written
// into one could, and a log line must not carry them.
func Redact(query string) string {
	q := stringLiteral.ReplaceAllString(query, "?")
	q = numericLiteral.ReplaceAllString(q, "${1}?")
	return strings.TrimSpace(whitespace.ReplaceAllString(q, " "))
}

// Stats counts the queries made under one context, such as one HTTP request's.
type Stats struct {
	queries atomic.Int64
	nanos   atomic.Int64
}

type statsKey struct{}

// WithStats returns a context under which every query is counted into the
// returned Stats. The access log reports them per request, and tests use them
// to catch N+1 queries.
func WithStats(ctx context.Context) (context.Context, *Stats) {
	s := new(Stats)
	return context.WithValue(ctx, statsKey{}, s), s
}

// Queries is the number of queries made so far.
func (s *Stats) Queries() int64 { return s.queries.Load() }

// Duration is the time those queries took, added up.
func (s *Stats) Duration() time.Duration { return time.Duration(s.nanos.Load()) }

// StatsFrom returns the Stats that WithStats put in ctx, or nil.
func StatsFrom(ctx context.Context) *Stats {
	s, _ := ctx.Value(statsKey{}).(*Stats)
	return s
}
