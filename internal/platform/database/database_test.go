package database_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

// notesSchema is the one table these tests need: the database package knows
// no service's schema, and its tests need none.
var notesSchema = testkit.Schema{
	Key: "database-test-notes-1", // bump when Apply changes
	Apply: func(ctx context.Context, db *database.DB) error {
		_, err := db.Exec(ctx, `CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`)
		return err
	},
}

func countNotes(t testing.TB, db *database.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM notes`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Concurrent write transactions that read then write are what fail with
// "database is locked" on a default SQLite set-up.
func TestConcurrentWriteTransactions(t *testing.T) {
	t.Parallel()
	db := testkit.NewDB(t, notesSchema)
	ctx := context.Background()

	const writers, each = 20, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				errs <- db.Transact(ctx, func(tx *database.Tx) error {
					var max sql.NullInt64
					if err := tx.QueryRow(ctx, `SELECT max(id) FROM notes`).Scan(&max); err != nil {
						return err
					}
					_, err := tx.Exec(ctx, `INSERT INTO notes (id, body) VALUES ($1, $2)`, w*each+i+1, fmt.Sprint("after ", max.Int64))
					return err
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent transaction: %v", err)
		}
	}
	if got, want := countNotes(t, db), writers*each; got != want {
		t.Errorf("got %d rows, want %d", got, want)
	}
}

func TestTransact(t *testing.T) {
	t.Parallel()
	db := testkit.NewDB(t, notesSchema)
	ctx := context.Background()
	id := 0
	insert := func(tx *database.Tx) {
		id++
		if _, err := tx.Exec(ctx, `INSERT INTO notes (id, body) VALUES ($1, $2)`, id, "x"); err != nil {
			t.Fatal(err)
		}
	}

	if err := db.Transact(ctx, func(tx *database.Tx) error { insert(tx); return nil }); err != nil {
		t.Fatalf("commit: %v", err)
	}
	boom := errors.New("boom")
	if err := db.Transact(ctx, func(tx *database.Tx) error { insert(tx); return boom }); !errors.Is(err, boom) {
		t.Fatalf("got error %v, want %v", err, boom)
	}
	func() {
		defer func() {
			if p := recover(); p != "panic in tx" {
				t.Errorf("got panic %v, want it to propagate", p)
			}
		}()
		db.Transact(ctx, func(tx *database.Tx) error { insert(tx); panic("panic in tx") })
	}()
	if got := countNotes(t, db); got != 1 {
		t.Errorf("got %d rows, want 1: only the committed transaction's", got)
	}
}

func TestQueryDeadline(t *testing.T) {
	t.Parallel()
	o := testkit.DBOptions(t, notesSchema)
	// Long enough for the ping below to open a new connection (the one the
	// deadline interrupted is dropped) on a loaded machine under -race;
	// far shorter than the query it stops.
	o.QueryTimeout = time.Second
	db, err := database.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	slow := `SELECT pg_sleep(30)`
	if db.Dialect() == database.SQLite {
		slow = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c`
	}
	var x any
	err = db.QueryRow(context.Background(), slow).Scan(&x)
	if err == nil {
		t.Fatal("got no error from a query that never ends, want the deadline to stop it")
	}
	if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "interrupt") && !strings.Contains(err.Error(), "cancel") {
		t.Errorf("got %v, want a deadline or cancellation error", err)
	}
	// The pool is still usable afterwards.
	if err := db.Ping(context.Background()); err != nil {
		t.Errorf("ping after deadline: %v", err)
	}
}

func TestSlowQueryLogAndMetrics(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	o := testkit.DBOptions(t, notesSchema)
	o.SlowQuery = 0 // every query is "slow"
	o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	o.Registerer = reg
	db, err := database.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	ctx, stats := database.WithStats(context.Background())
	var s string
	if err := db.QueryRow(ctx, `SELECT 'hunter2' || $1`, "x").Scan(&s); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(ctx, `SELECT 1 UNION ALL SELECT 2`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `CREATE TABLE t (id INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if got := stats.Queries(); got != 3 {
		t.Errorf("got %d queries counted, want 3", got)
	}

	var line struct {
		Level, Msg, Statement string
		DurationMS            *float64 `json:"duration_ms"`
	}
	// The first line is Open's ping; the second is the first query above.
	lines := strings.Split(logs.String(), "\n")
	if len(lines) < 2 {
		t.Fatalf("got logs %q, want a line per query", logs.String())
	}
	first := lines[1]
	if err := json.Unmarshal([]byte(first), &line); err != nil {
		t.Fatalf("log line %q: %v", first, err)
	}
	if line.Level != "WARN" || line.Msg != "slow query" || line.DurationMS == nil {
		t.Errorf("got log line %s, want a WARN slow query line with duration_ms", first)
	}
	if want := `SELECT ? || $1`; line.Statement != want {
		t.Errorf("got statement %q, want %q (literal redacted)", line.Statement, want)
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Error("a literal value reached the log")
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, f := range families {
		found[f.GetName()] = true
		if f.GetName() == "db_query_duration_seconds" {
			var selects uint64
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "op" && l.GetValue() == "select" {
						selects += m.GetHistogram().GetSampleCount()
					}
				}
			}
			if selects != 3 {
				t.Errorf("got %d select observations, want 3 (Open's ping and two queries)", selects)
			}
		}
	}
	want := []string{"db_query_duration_seconds", "go_sql_open_connections", "go_sql_max_open_connections", "go_sql_wait_count_total"}
	if db.Dialect() == database.Postgres {
		// The pool every query shares, and how often requests waited for it.
		want = append(want, "db_pool_max_conns", "db_pool_conns", "db_pool_acquires_total", "db_pool_waits_total", "db_pool_wait_seconds_total")
	}
	for _, name := range want {
		if !found[name] {
			t.Errorf("metric %s not registered", name)
		}
	}
}

func TestMigrations(t *testing.T) {
	t.Parallel()
	db := testkit.NewEmptyDB(t)
	ctx := context.Background()
	fsys := fstest.MapFS{
		"00001_widgets.sql": {Data: []byte("-- +goose Up\nCREATE TABLE widgets (id INTEGER PRIMARY KEY);\n-- +goose Down\nDROP TABLE widgets;\n")},
		"00002_gadgets.sql": {Data: []byte("-- +goose Up\nCREATE TABLE gadgets (id INTEGER PRIMARY KEY);\n-- +goose Down\nDROP TABLE gadgets;\n")},
	}

	applied, err := database.MigrateUp(ctx, db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 2 {
		t.Fatalf("got %d migrations applied, want 2", len(applied))
	}
	if again, err := database.MigrateUp(ctx, db, fsys); err != nil || len(again) != 0 {
		t.Fatalf("second up: got %d applied, err %v; want 0, nil", len(again), err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO gadgets (id) VALUES (1)`); err != nil {
		t.Fatalf("table from migration 2: %v", err)
	}

	down, err := database.MigrateDown(ctx, db, fsys)
	if err != nil || down.Version != 2 {
		t.Fatalf("down: got version %d, err %v; want 2, nil", down.Version, err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO gadgets (id) VALUES (2)`); err == nil {
		t.Error("gadgets still exists after migrating down")
	}

	status, err := database.MigrationStatus(ctx, db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range status {
		got = append(got, fmt.Sprintf("%d:%v", m.Version, m.Applied))
	}
	if want := "1:true 2:false"; strings.Join(got, " ") != want {
		t.Errorf("got status %q, want %q", strings.Join(got, " "), want)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"SELECT * FROM users WHERE id = $1", "SELECT * FROM users WHERE id = $1"},
		{"SELECT 'it''s secret', 42,\n\t3.5 FROM t", "SELECT ?, ?, ? FROM t"},
		{"UPDATE t2 SET a = 'x' WHERE b = $2", "UPDATE t2 SET a = ? WHERE b = $2"},
	}
	for _, tt := range tests {
		if got := database.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIsUniqueViolation(t *testing.T) {
	t.Parallel()
	db := testkit.NewDB(t, notesSchema)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `INSERT INTO notes (id, body) VALUES (1, 'a')`); err != nil {
		t.Fatal(err)
	}
	_, err := db.Exec(ctx, `INSERT INTO notes (id, body) VALUES (1, 'b')`)
	if !database.IsUniqueViolation(err) {
		t.Errorf("duplicate key: IsUniqueViolation(%v) = false, want true", err)
	}
	_, err = db.Exec(ctx, `INSERT INTO notes (id, body) VALUES (2, NULL)`)
	if err == nil || database.IsUniqueViolation(err) {
		t.Errorf("NOT NULL violation: got %v, want an error that is not a unique violation", err)
	}
}

func TestQueryErrorsNameTheStatement(t *testing.T) {
	t.Parallel()
	db := testkit.NewDB(t, notesSchema)
	ctx := context.Background()
	if _, err := db.Exec(ctx, `INSERT INTO notes (id, body) VALUES (1, 'a')`); err != nil {
		t.Fatal(err)
	}
	// Each func makes one failing call and returns its error.
	tests := []struct {
		name string
		call func() error
		want string // the statement the error must name
		is   error  // an error it must still match, if any
	}{
		{"Exec", func() error {
			_, err := db.Exec(ctx, "UPDATE no_such_table\nSET body = $1", "x")
			return err
		}, `query "UPDATE no_such_table": `, nil},
		{"Query", func() error {
			_, err := db.Query(ctx, "-- why: a comment line is skipped\nSELECT body FROM no_such_table")
			return err
		}, `query "SELECT body FROM no_such_table": `, nil},
		{"QueryRow", func() error {
			var s string
			return db.QueryRow(ctx, `SELECT body FROM no_such_table WHERE id = $1`, 1).Scan(&s)
		}, `query "SELECT body FROM no_such_table WHERE id = $1": `, nil},
		{"no rows", func() error {
			var s string
			return db.QueryRow(ctx, `SELECT body FROM notes WHERE id = $1`, 2).Scan(&s)
		}, `query "SELECT body FROM notes WHERE id = $1": `, sql.ErrNoRows},
		{"Rows.Scan", func() error {
			rows, err := db.Query(ctx, `SELECT body FROM notes`)
			if err != nil {
				return err
			}
			defer rows.Close()
			rows.Next()
			var n struct{} // nothing scans into this
			return rows.Scan(&n)
		}, `query "SELECT body FROM notes": `, nil},
		{"unique violation", func() error {
			_, err := db.Exec(ctx, `INSERT INTO notes (id, body) VALUES ($1, $2)`, 1, "b")
			return err
		}, `query "INSERT INTO notes (id, body) VALUES ($1, $2)": `, nil},
		{"in a transaction", func() error {
			return db.Transact(ctx, func(tx *database.Tx) error {
				_, err := tx.Exec(ctx, `DELETE FROM no_such_table`)
				return err
			})
		}, `query "DELETE FROM no_such_table": `, nil},
		{"literals redacted", func() error {
			var s string
			return db.QueryRow(ctx, "SELECT body FROM no_such_table WHERE body = 'hunter2\nhunter3' AND id = 42").Scan(&s)
		}, `query "SELECT body FROM no_such_table WHERE body = ? AND id = ?": `, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("got no error, want one")
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got %q, want it to start with %q", err, tt.want)
			}
			if strings.Count(err.Error(), "query \"") != 1 {
				t.Errorf("got %q, want the statement named once", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false, want true", err, tt.is)
			}
			if strings.Contains(err.Error(), "hunter") {
				t.Errorf("got %q, want the literal redacted", err)
			}
		})
	}
	_, err := db.Exec(ctx, `INSERT INTO notes (id, body) VALUES ($1, $2)`, 1, "b")
	if !database.IsUniqueViolation(err) {
		t.Errorf("IsUniqueViolation(%v) = false, want true through the statement's name", err)
	}
}

// A QueryRow that fails, or finds nothing, is observed with its outcome:
// "error" for a failure, "ok" for no rows, on both dialects (on PostgreSQL
// pgx reports a row's error only when it is scanned).
func TestQueryRowOutcome(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	o := testkit.DBOptions(t, notesSchema)
	o.Registerer = reg
	db, err := database.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var n int
	if err := db.QueryRow(ctx, `SELECT 1 WHERE 1 = 0`).Scan(&n); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("no row: got %v, want sql.ErrNoRows", err)
	}
	if err := db.QueryRow(ctx, `SELECT no_such_column FROM notes`).Scan(&n); err == nil {
		t.Fatal("a query of a missing column: got no error")
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]uint64{}
	for _, f := range families {
		if f.GetName() != "db_query_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					count[l.GetValue()] += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	// Open's ping and the empty query are "ok"; the bad column is "error".
	if count["ok"] != 2 || count["error"] != 1 {
		t.Errorf("got outcomes %v, want 2 ok and 1 error", count)
	}
}

// A nil destination skips its column on both dialects, and a row can be
// scanned twice: once for some columns, then for others.
func TestScanSkipsNilAndScansARowTwice(t *testing.T) {
	t.Parallel()
	db := testkit.NewDB(t, notesSchema)
	ctx := context.Background()
	for i, body := range []string{"one", "two"} {
		if _, err := db.Exec(ctx, `INSERT INTO notes (id, body) VALUES ($1, $2)`, i+1, body); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.Query(ctx, `SELECT id, body FROM notes ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id int
		var body string
		if err := rows.Scan(&id, nil); err != nil {
			t.Fatalf("Scan(&id, nil): %v", err)
		}
		if body != "" {
			t.Fatalf("Scan(&id, nil) wrote body %q", body)
		}
		if err := rows.Scan(nil, &body); err != nil {
			t.Fatalf("Scan(nil, &body): %v", err)
		}
		got = append(got, fmt.Sprint(id, body))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"1one", "2two"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
