package billing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rightsize/rightsize/internal/platform/database"
)

// The store: one function per statement, each taking a database.Querier.
// Rows from Stripe carry stripe_version, the creation time (Unix seconds)
// of the event or fetch they reflect, and an upsert only replaces a row
// with one at least as recent, so events arriving out of order never roll
// a row back.

// Subscription is a Stripe subscription as billing last learnt it.
type Subscription struct {
	ID                string
	UserID            string
	PriceID           string
	Status            string // Stripe's: active, trialing, past_due, canceled, unpaid, incomplete, ...
	CurrentPeriodEnd  *time.Time
	CancelAtPeriodEnd bool
	PastDueSince      *time.Time // when it became past_due, while it is
	Version           int64      // see the store's comment
}

// upsertSubscription stores sub unless the row holds a more recent version.
// Stripe's event times are whole seconds, and it sends a subscription's
// "created" (incomplete) and "updated" (active) in the same second: between
// two of the same version, the one further along its life wins (see stage).
// past_due_since keeps the time the subscription first became past due.
func upsertSubscription(ctx context.Context, q database.Querier, sub Subscription) error {
	var pastDue *time.Time
	if sub.Status == "past_due" {
		t := time.Unix(sub.Version, 0).UTC()
		pastDue = &t
	}
	_, err := q.Exec(ctx, `INSERT INTO billing_subscriptions (id, user_id, price_id, status, current_period_end,
			cancel_at_period_end, past_due_since, stripe_version, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (id) DO UPDATE SET
			user_id = excluded.user_id, price_id = excluded.price_id, status = excluded.status,
			current_period_end = excluded.current_period_end, cancel_at_period_end = excluded.cancel_at_period_end,
			past_due_since = CASE
				WHEN excluded.status <> 'past_due' THEN NULL
				WHEN billing_subscriptions.status = 'past_due' THEN billing_subscriptions.past_due_since
				ELSE excluded.past_due_since END,
			stripe_version = excluded.stripe_version, updated_at = excluded.updated_at
		WHERE billing_subscriptions.stripe_version < excluded.stripe_version
			OR (billing_subscriptions.stripe_version = excluded.stripe_version
				AND `+stage("excluded.status")+` >= `+stage("billing_subscriptions.status")+`)`,
		sub.ID, sub.UserID, sub.PriceID, sub.Status, sub.CurrentPeriodEnd, sub.CancelAtPeriodEnd, pastDue, sub.Version, now())
	return err
}

// stage is an SQL expression ranking the subscription status in column
// along a subscription's life: incomplete first, ended last.
func stage(column string) string {
	return `(CASE ` + column + ` WHEN 'incomplete' THEN 0 WHEN 'canceled' THEN 2 WHEN 'incomplete_expired' THEN 2 ELSE 1 END)`
}

// maxSubscriptions bounds how many of a user's subscriptions are read: a
// user has one or two; Stripe lets a dashboard make more.
const maxSubscriptions = 20

// subscriptionsOf returns userID's subscriptions, most recently changed
// first. billing_subscriptions_user serves it.
func subscriptionsOf(ctx context.Context, q database.Querier, userID string) ([]Subscription, error) {
	rows, err := q.Query(ctx, `SELECT id, user_id, price_id, status, current_period_end, cancel_at_period_end, past_due_since, stripe_version
		FROM billing_subscriptions WHERE user_id = $1 ORDER BY updated_at DESC LIMIT $2`, userID, maxSubscriptions)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Subscription
	for rows.Next() {
		var sub Subscription
		if err := rows.Scan(&sub.ID, &sub.UserID, &sub.PriceID, &sub.Status, &sub.CurrentPeriodEnd,
			&sub.CancelAtPeriodEnd, &sub.PastDueSince, &sub.Version); err != nil {
			return nil, err
		}
		out = append(out, sub)
	}
	return out, rows.Err()
}

// customerOf returns userID's Stripe customer ID, or "" if it has none yet.
func customerOf(ctx context.Context, q database.Querier, userID string) (string, error) {
	var id string
	err := q.QueryRow(ctx, `SELECT stripe_customer_id FROM billing_customers WHERE user_id = $1`, userID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// userOfCustomer returns the user whose Stripe customer is customerID, or
// "" if it is none of ours.
func userOfCustomer(ctx context.Context, q database.Querier, customerID string) (string, error) {
	var id string
	err := q.QueryRow(ctx, `SELECT user_id FROM billing_customers WHERE stripe_customer_id = $1`, customerID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// insertCustomer records userID's Stripe customer unless it has one; the
// caller reads back which one won.
func insertCustomer(ctx context.Context, q database.Querier, userID, customerID string) error {
	t := now()
	_, err := q.Exec(ctx, `INSERT INTO billing_customers (user_id, stripe_customer_id, created_at, reconciled_at)
		VALUES ($1, $2, $3, $3) ON CONFLICT DO NOTHING`, userID, customerID, t)
	return err
}

// customersToReconcile returns up to limit customers compared with Stripe
// longest ago, by Stripe customer ID. billing_customers_reconciled serves
// it.
func customersToReconcile(ctx context.Context, q database.Querier, limit int) (map[string]string, error) {
	rows, err := q.Query(ctx, `SELECT user_id, stripe_customer_id FROM billing_customers
		ORDER BY reconciled_at LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]string) // Stripe customer ID → user ID
	for rows.Next() {
		var user, customer string
		if err := rows.Scan(&user, &customer); err != nil {
			return nil, err
		}
		out[customer] = user
	}
	return out, rows.Err()
}

func markReconciled(ctx context.Context, q database.Querier, userID string) error {
	_, err := q.Exec(ctx, `UPDATE billing_customers SET reconciled_at = $1 WHERE user_id = $2`, now(), userID)
	return err
}

// Invoice is a Stripe invoice as billing last learnt it.
type Invoice struct {
	ID               string
	UserID           string
	Number           string
	Status           string // draft, open, paid, uncollectible, void
	Currency         string // ISO 4217, upper case
	AmountDue        int64
	AmountPaid       int64
	HostedInvoiceURL string
	CreatedAt        time.Time
	Version          int64
}

func upsertInvoice(ctx context.Context, q database.Querier, in Invoice) error {
	_, err := q.Exec(ctx, `INSERT INTO billing_invoices (id, user_id, number, status, currency, amount_due, amount_paid,
			hosted_invoice_url, created_at, stripe_version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (id) DO UPDATE SET
			number = excluded.number, status = excluded.status, currency = excluded.currency,
			amount_due = excluded.amount_due, amount_paid = excluded.amount_paid,
			hosted_invoice_url = excluded.hosted_invoice_url, stripe_version = excluded.stripe_version
		WHERE billing_invoices.stripe_version <= excluded.stripe_version`,
		in.ID, in.UserID, in.Number, in.Status, in.Currency, in.AmountDue, in.AmountPaid, in.HostedInvoiceURL, in.CreatedAt, in.Version)
	return err
}

// invoicePosition is where a page of invoices ends.
type invoicePosition struct {
	CreatedAt time.Time `json:"t"`
	ID        string    `json:"id"`
}

// listInvoices returns up to limit of userID's invoices, newest first,
// after the position after if not nil. billing_invoices_user_created
// serves it.
func listInvoices(ctx context.Context, q database.Querier, userID string, after *invoicePosition, limit int) ([]Invoice, error) {
	query := `SELECT id, user_id, number, status, currency, amount_due, amount_paid, hosted_invoice_url, created_at, stripe_version
		FROM billing_invoices WHERE user_id = $1`
	args := []any{userID}
	if after != nil {
		query += ` AND (created_at, id) < ($2, $3)`
		args = append(args, after.CreatedAt, after.ID)
	}
	query += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args)+1)
	rows, err := q.Query(ctx, query, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Invoice
	for rows.Next() {
		var in Invoice
		if err := rows.Scan(&in.ID, &in.UserID, &in.Number, &in.Status, &in.Currency, &in.AmountDue, &in.AmountPaid,
			&in.HostedInvoiceURL, &in.CreatedAt, &in.Version); err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// insertEvent stores a webhook event unless one with its ID is stored, and
// reports whether it was new.
func insertEvent(ctx context.Context, q database.Querier, id, typ string, created int64, payload []byte) (bool, error) {
	res, err := q.Exec(ctx, `INSERT INTO stripe_events (id, type, created, payload, received_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`, id, typ, created, string(payload), now())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// eventPayload returns a stored event's payload and whether it was
// processed; sql.ErrNoRows if there is none.
func eventPayload(ctx context.Context, q database.Querier, id string) ([]byte, bool, error) {
	var payload string
	var processed *time.Time
	err := q.QueryRow(ctx, `SELECT payload, processed_at FROM stripe_events WHERE id = $1`, id).Scan(&payload, &processed)
	return []byte(payload), processed != nil, err
}

func markProcessed(ctx context.Context, q database.Querier, id string) error {
	_, err := q.Exec(ctx, `UPDATE stripe_events SET processed_at = $1 WHERE id = $2`, now(), id)
	return err
}

// deleteOldEvents deletes up to limit processed events received before
// cutoff: Stripe stops retrying an event after three days, so by then its
// ID is no longer needed to recognise a duplicate. stripe_events_received
// serves it.
func deleteOldEvents(ctx context.Context, q database.Querier, cutoff time.Time, limit int) (int64, error) {
	res, err := q.Exec(ctx, `DELETE FROM stripe_events WHERE id IN (
		SELECT id FROM stripe_events WHERE received_at < $1 AND processed_at IS NOT NULL LIMIT $2)`, cutoff, limit)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
