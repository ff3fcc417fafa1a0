package orders

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

// ordersSchema is the service's own tables, from its migrations.
var ordersSchema = testkit.Schema{
	Key: "orders-" + testkit.FSKey("", migrations),
	Apply: func(ctx context.Context, db *database.DB) error {
		dir, err := fs.Sub(migrations, string(db.Dialect()))
		if err != nil {
			return err
		}
		_, err = database.MigrateUp(ctx, db, dir)
		return err
	},
}

// seed fills the tables: on PostgreSQL 50,000 orders of 500 users, two
// items each, then ANALYZE, so that the planner chooses as it would in
// production; on SQLite a tenth of that.
func seed(t *testing.T, db *database.DB) {
	ctx := context.Background()
	var stmts []string
	if db.Dialect() == database.Postgres {
		stmts = []string{
			`INSERT INTO orders (id, user_id, status, currency, total_amount, idempotency_key, created_at, updated_at)
			 SELECT 'ord_' || lpad(g::text, 26, '0'), 'usr_' || (g % 500),
			        (ARRAY['pending', 'paid', 'fulfilled', 'cancelled'])[1 + g % 4], 'EUR', 100,
			        CASE WHEN g % 3 = 0 THEN 'key-' || g END,
			        timestamptz '2026-01-01' + g * interval '1 minute', timestamptz '2026-01-01' + g * interval '1 minute'
			 FROM generate_series(1, 50000) g`,
			`INSERT INTO order_items (order_id, position, sku, name, quantity, unit_amount)
			 SELECT o.id, p, 'SKU-' || p, 'Item', 1, 50 FROM orders o, generate_series(0, 1) p`,
			`ANALYZE orders`,
			`ANALYZE order_items`,
		}
	} else {
		stmts = []string{
			`WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 5000)
			 INSERT INTO orders (id, user_id, status, currency, total_amount, idempotency_key, created_at, updated_at)
			 SELECT 'ord_' || printf('%026d', n), 'usr_' || (n % 50),
			        CASE n % 4 WHEN 0 THEN 'pending' WHEN 1 THEN 'paid' WHEN 2 THEN 'fulfilled' ELSE 'cancelled' END, 'EUR', 100,
			        CASE WHEN n % 3 = 0 THEN 'key-' || n END,
			        datetime('2026-01-01', '+' || n || ' minutes'), datetime('2026-01-01', '+' || n || ' minutes')
			 FROM g`,
			`INSERT INTO order_items (order_id, position, sku, name, quantity, unit_amount)
			 SELECT o.id, p.n, 'SKU-' || p.n, 'Item', 1, 50 FROM orders o, (SELECT 0 AS n UNION ALL SELECT 1) p`,
			`ANALYZE`,
		}
	}
	for _, s := range stmts {
		if _, err := db.Exec(ctx, s); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
}

// Every statement the store sends that reads or changes orders is served by
// the index meant for it: EXPLAIN names that index and shows no sequential
// scan of orders or order_items.
func TestQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	db := testkit.NewDB(t, ordersSchema)
	seed(t, db)

	const user, order = "usr_7", "ord_00000000000000000000000007"
	at := time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC)
	after := &position{CreatedAt: at, ID: order}
	// The primary keys' indexes are named by the database.
	ordersPK, itemsPK := "orders_pkey", "order_items_pkey"
	if db.Dialect() == database.SQLite {
		ordersPK, itemsPK = "sqlite_autoindex_orders_1", "sqlite_autoindex_order_items_1"
	}
	type query struct {
		name    string
		sql     string
		args    []any
		indexes []string // each must appear in the plan
	}
	queries := []query{
		{"get an order", orderQuery(byUserAndID), []any{order, user}, []string{ordersPK, itemsPK}},
		{"get an order by ID", orderQuery(byID), []any{order}, []string{ordersPK, itemsPK}},
		{"get an order by idempotency key", orderQuery(byKey), []any{user, "key-3"}, []string{"orders_user_idempotency_key", itemsPK}},
		{"orders this month", ordersSinceQuery, []any{user, at, 100}, []string{"orders_user_created"}},
		{"status of an order", statusQuery(false), []any{order}, []string{ordersPK}},
		{"status of a user's order", statusQuery(true), []any{order, user}, []string{ordersPK}},
		{"cancel", transitionQuery(Cancelled, "", true), []any{Cancelled, at, order, Pending, user}, []string{ordersPK}},
		{"mark paid", transitionQuery(Paid, ", payment_ref = $5", false), []any{Paid, at, order, Pending, "pi_1"}, []string{ordersPK}},
	}
	day := at.Add(24 * time.Hour)
	for _, l := range []struct {
		name  string
		f     Filter
		after *position
		index string
	}{
		{"list", Filter{}, nil, "orders_user_created"},
		{"list, next page", Filter{}, after, "orders_user_created"},
		{"list by status", Filter{Status: Paid}, nil, "orders_user_status_created"},
		{"list by status, next page", Filter{Status: Paid}, after, "orders_user_status_created"},
		{"list by created-at range", Filter{CreatedAfter: &at, CreatedBefore: &day}, after, "orders_user_created"},
		{"list by status and range", Filter{Status: Paid, CreatedAfter: &at, CreatedBefore: &day}, after, "orders_user_status_created"},
	} {
		sql, args := listQuery(user, l.f, l.after, 21)
		queries = append(queries, query{l.name, sql, args, []string{l.index, itemsPK}})
	}

	for _, q := range queries {
		plan := explain(t, db, q.sql, q.args)
		if scansTable(db.Dialect(), plan) {
			t.Errorf("%s scans a table:\n%s\n%s", q.name, q.sql, plan)
		}
		for _, index := range q.indexes {
			if !strings.Contains(plan, index) {
				t.Errorf("%s does not use %s:\n%s\n%s", q.name, index, q.sql, plan)
			}
		}
	}
}

// explain returns the plan of query with args.
func explain(t *testing.T, db *database.DB, query string, args []any) string {
	t.Helper()
	ctx := context.Background()
	var lines []string
	err := db.Transact(ctx, func(tx *database.Tx) error {
		prefix := "EXPLAIN QUERY PLAN "
		if db.Dialect() == database.Postgres {
			prefix = "EXPLAIN "
		}
		rows, err := tx.Query(ctx, prefix+query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			return err
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			lines = append(lines, fmt.Sprint(vals[len(vals)-1])) // the plan line, or SQLite's detail
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	return strings.Join(lines, "\n")
}

// scansTable reports whether plan reads orders or order_items whole:
// PostgreSQL's "Seq Scan on", SQLite's "SCAN" of either without an index.
func scansTable(d database.Dialect, plan string) bool {
	for line := range strings.Lines(plan) {
		switch d {
		case database.Postgres:
			if strings.Contains(line, "Seq Scan on orders") || strings.Contains(line, "Seq Scan on order_items") {
				return true
			}
		default:
			// "SCAN page" reads a list's page of orders, already found by index.
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "SCAN" && slices.Contains([]string{"orders", "order_items", "o", "i"}, f[1]) && !strings.Contains(line, "INDEX") {
				return true
			}
		}
	}
	return false
}
