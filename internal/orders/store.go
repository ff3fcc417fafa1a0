package orders

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/database"
)

// The store: one function per statement, each taking a database.Querier so
// that it runs inside a transaction or outside alike. The index that serves
// each query is named beside it; TestQueriesUseIndexes holds them to it.

const orderColumns = `o.id, o.user_id, o.status, o.currency, o.total_amount, COALESCE(o.payment_ref, ''),
	o.created_at, o.updated_at, o.paid_at, o.fulfilled_at, o.cancelled_at`

const itemColumns = `i.sku, i.name, i.quantity, i.unit_amount`

func scanOrder(dest []any, o *Order) []any {
	return append(dest, &o.ID, &o.UserID, &o.Status, &o.Currency, &o.TotalAmount, &o.PaymentRef,
		&o.CreatedAt, &o.UpdatedAt, &o.PaidAt, &o.FulfilledAt, &o.CancelledAt)
}

// scanItem scans what itemColumns selects; Amount is then
// it.Quantity * it.UnitAmount, which Create checked.
func scanItem(dest []any, it *Item) []any {
	return append(dest, &it.SKU, &it.Name, &it.Quantity, &it.UnitAmount)
}

// insertOrder stores o and its items. The error matches
// database.IsUniqueViolation if userID already has an order made with key.
func insertOrder(ctx context.Context, q database.Querier, o Order, key string) error {
	var k *string
	if key != "" {
		k = &key
	}
	_, err := q.Exec(ctx, `INSERT INTO orders (id, user_id, status, currency, total_amount, idempotency_key, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
		o.ID, o.UserID, o.Status, o.Currency, o.TotalAmount, k, o.CreatedAt)
	if err != nil {
		return err
	}
	// All the items in one statement: at most MaxItems rows of 6 values.
	var b strings.Builder
	b.WriteString(`INSERT INTO order_items (order_id, position, sku, name, quantity, unit_amount) VALUES `)
	args := make([]any, 0, 6*len(o.Items))
	for i, it := range o.Items {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(placeholders(len(args)+1, 6))
		args = append(args, o.ID, i, it.SKU, it.Name, it.Quantity, it.UnitAmount)
	}
	_, err = q.Exec(ctx, b.String(), args...)
	return err
}

// placeholders returns "($first, ..., $first+n-1)".
func placeholders(first, n int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(first + i))
	}
	b.WriteByte(')')
	return b.String()
}

// The conditions orderWhere is called with.
const (
	byID        = `o.id = $1`
	byUserAndID = `o.id = $1 AND o.user_id = $2`
	byKey       = `o.user_id = $1 AND o.idempotency_key = $2`
)

// orderWhere returns the order matching cond (a condition on o, with $1...
// bound to args) with its items, in one query: orders' primary key or
// orders_user_idempotency_key, then order_items' primary key. It returns
// apperr.ErrNotFound if none matches.
func orderWhere(ctx context.Context, q database.Querier, cond string, args ...any) (Order, error) {
	rows, err := q.Query(ctx, orderQuery(cond), args...)
	if err != nil {
		return Order{}, err
	}
	defer rows.Close()
	orders, err := scanOrders(rows, 1)
	if err != nil {
		return Order{}, err
	}
	if len(orders) == 0 {
		return Order{}, fmt.Errorf("order: %w", apperr.ErrNotFound)
	}
	return orders[0], nil
}

// scanOrders reads rows of orderColumns then itemColumns, one per item,
// each order's rows together, into orders with their items. An order's
// columns repeat on each of its items' rows, but are decoded only on the
// first: every row scans the order ID and the item, and the first of an
// order its other columns too (nil skips a column). On a page of 20 orders
// of 3 items that saves 400 of the 1,000 values and half the allocations.
func scanOrders(rows *database.Rows, capacity int) ([]Order, error) {
	orders := make([]Order, 0, capacity)
	var o Order
	var it Item
	var id string
	item := scanItem(append(make([]any, 0, 15), &id, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil), &it)
	order := append(scanOrder(make([]any, 0, 15), &o), nil, nil, nil, nil)
	order[0] = nil // the ID, already in id
	for rows.Next() {
		it = Item{}
		if err := rows.Scan(item...); err != nil {
			return nil, err
		}
		if len(orders) == 0 || orders[len(orders)-1].ID != id {
			o = Order{} // no pointer (PaidAt, ...) shared with the last order
			if err := rows.Scan(order...); err != nil {
				return nil, err
			}
			o.ID, o.Items = id, make([]Item, 0, 4) // most orders have a few lines
			orders = append(orders, o)
		}
		it.Amount = it.Quantity * it.UnitAmount
		last := &orders[len(orders)-1]
		last.Items = append(last.Items, it)
	}
	return orders, rows.Err()
}

func orderQuery(cond string) string {
	return `SELECT ` + orderColumns + `, ` + itemColumns + `
		FROM orders o JOIN order_items i ON i.order_id = o.id
		WHERE ` + cond + ` ORDER BY i.position`
}

// userOrder returns userID's order id with its items, or apperr.ErrNotFound
// if userID has no such order.
func userOrder(ctx context.Context, q database.Querier, userID, id string) (Order, error) {
	return orderWhere(ctx, q, byUserAndID, id, userID)
}

// ordersSince counts userID's orders created at or after t, stopping at
// upTo: a limit only needs to know whether it is reached.
// orders_user_created serves it.
func ordersSince(ctx context.Context, q database.Querier, userID string, t time.Time, upTo int) (int, error) {
	var n int
	err := q.QueryRow(ctx, ordersSinceQuery, userID, t, upTo).Scan(&n)
	return n, err
}

const ordersSinceQuery = `SELECT count(*) FROM (
	SELECT 1 FROM orders WHERE user_id = $1 AND created_at >= $2 LIMIT $3) AS recent`

// Filter narrows a list of orders. The zero Filter lists them all.
type Filter struct {
	Status        Status     // only orders in this status, if not ""
	CreatedAfter  *time.Time // only orders created after it (exclusive)
	CreatedBefore *time.Time // only orders created before it (exclusive)
}

// position is where a page ends: the last order's sort key.
type position struct {
	CreatedAt time.Time `json:"t"`
	ID        string    `json:"id"`
}

// listOrders returns up to limit of userID's orders matching f, newest
// first, after the position after if not nil, with their items, in one
// query.
func listOrders(ctx context.Context, q database.Querier, userID string, f Filter, after *position, limit int) ([]Order, error) {
	query, args := listQuery(userID, f, after, limit)
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanOrders(rows, limit)
}

// listQuery is listOrders' statement and its arguments: the page of orders,
// then each with its items. Only the conditions in use are written into
// the statement, so that the planner sees each query for what it is:
// orders_user_created serves the page, or orders_user_status_created with
// a status, then order_items' primary key the items.
func listQuery(userID string, f Filter, after *position, limit int) (string, []any) {
	cond := []string{"o.user_id = $1"}
	args := []any{userID}
	if f.Status != "" {
		args = append(args, f.Status)
		cond = append(cond, "o.status = $"+strconv.Itoa(len(args)))
	}
	if f.CreatedAfter != nil {
		args = append(args, *f.CreatedAfter)
		cond = append(cond, "o.created_at > $"+strconv.Itoa(len(args)))
	}
	if f.CreatedBefore != nil {
		args = append(args, *f.CreatedBefore)
		cond = append(cond, "o.created_at < $"+strconv.Itoa(len(args)))
	}
	if after != nil {
		args = append(args, after.CreatedAt, after.ID)
		n := len(args)
		cond = append(cond, fmt.Sprintf("(o.created_at, o.id) < ($%d, $%d)", n-1, n))
	}
	args = append(args, limit)
	return `WITH page AS (
			SELECT * FROM orders o
			WHERE ` + strings.Join(cond, " AND ") + `
			ORDER BY o.created_at DESC, o.id DESC LIMIT $` + strconv.Itoa(len(args)) + `
		)
		SELECT ` + pageColumns + `, ` + itemColumns + `
		FROM page JOIN order_items i ON i.order_id = page.id
		ORDER BY page.created_at DESC, page.id DESC, i.position`, args
}

// pageColumns are orderColumns read from listQuery's page.
var pageColumns = strings.ReplaceAll(orderColumns, "o.", "page.")

// transition moves order id (of userID, unless userID is "") to status to,
// at t, if it is in the status the state machine moves to from; set adds
// column assignments ("payment_ref = $5") with their values. It returns
// apperr.ErrNotFound if there is no such order, and an apperr.ErrConflict
// naming the order's status if it cannot move.
func transition(ctx context.Context, q database.Querier, id, userID string, to Status, t time.Time, set string, setArgs ...any) error {
	args := append([]any{to, t, id, from[to]}, setArgs...)
	if userID != "" {
		args = append(args, userID)
	}
	res, err := q.Exec(ctx, transitionQuery(to, set, userID != ""), args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	// Nothing moved: say why, from the order as it is now.
	var status Status
	query, condArgs := statusQuery(false), []any{id}
	if userID != "" {
		query, condArgs = statusQuery(true), []any{id, userID}
	}
	err = q.QueryRow(ctx, query, condArgs...).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("order %s: %w", id, apperr.ErrNotFound)
	}
	if err != nil {
		return err
	}
	return apperr.Errorf(apperr.ErrConflict, "the order is %s: only a %s order can become %s", status, from[to], to)
}

// transitionQuery is transition's UPDATE: $1 the new status, $2 the time,
// $3 the order, $4 the status it must be in, then set's values, then the
// user if byUser. orders' primary key serves it.
func transitionQuery(to Status, set string, byUser bool) string {
	stmt := `UPDATE orders SET status = $1, updated_at = $2, ` + string(to) + `_at = $2` + set + `
		WHERE id = $3 AND status = $4`
	if byUser {
		stmt += ` AND user_id = $` + strconv.Itoa(5+strings.Count(set, "$"))
	}
	return stmt
}

// statusQuery selects an order's status by its ID ($1), and its user ($2)
// if byUser.
func statusQuery(byUser bool) string {
	if byUser {
		return `SELECT status FROM orders WHERE id = $1 AND user_id = $2`
	}
	return `SELECT status FROM orders WHERE id = $1`
}
