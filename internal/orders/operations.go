package orders

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/id"
)

// msgNoSuchOrder answers for an order that is another user's or missing
// alike: which one it is would tell a guesser something.
const msgNoSuchOrder = "no such order"

// Create places an order for userID, pending, and queues its confirmation
// mail in the same transaction. Bad input is an *apperr.ValidationError
// naming each bad field; a userID whose account is gone is an
// apperr.ErrUnauthenticated. With an IdempotencyKey that userID already made
// an order with, it returns that order if it is the same one asked for,
// and an apperr.ErrUnprocessable error if not.
func (s *Service) Create(ctx context.Context, userID string, in NewOrder) (Order, error) {
	items, total, err := in.check()
	if err != nil {
		return Order{}, err
	}
	// An access token outlives an account deleted after it was issued:
	// its holder orders nothing that nobody could pay or be mailed about.
	if _, err := s.recipient(ctx, userID); errors.Is(err, apperr.ErrNotFound) {
		return Order{}, apperr.Wrap(err, apperr.ErrUnauthenticated, "this account no longer exists")
	} else if err != nil {
		return Order{}, err
	}
	t := now()
	o := Order{
		ID: id.New("ord"), UserID: userID, Status: Pending, Currency: in.Currency,
		TotalAmount: total, Items: items, CreatedAt: t, UpdatedAt: t,
	}
	allowed, err := s.allowance(ctx, userID)
	if err != nil {
		return Order{}, fmt.Errorf("allowance of %s: %w", userID, err)
	}
	err = s.db.Transact(ctx, func(tx *database.Tx) error {
		if err := checkAllowance(ctx, tx, userID, allowed, t); err != nil {
			return err
		}
		if err := insertOrder(ctx, tx, o, in.IdempotencyKey); err != nil {
			return err
		}
		return s.jobs.InsertTx(ctx, tx, ConfirmationArgs{OrderID: o.ID}, nil)
	})
	if in.IdempotencyKey != "" && (database.IsUniqueViolation(err) || errors.Is(err, apperr.ErrPaymentRequired)) {
		// The same request ran before, and its answer was lost (the
		// idempotency middleware remembers answers for 24 h; this row,
		// for good). At the plan's limit too, retrying an order that was
		// made answers that order, not the limit.
		prev, lookErr := orderWhere(ctx, s.db, byKey, userID, in.IdempotencyKey)
		if errors.Is(lookErr, apperr.ErrNotFound) && !database.IsUniqueViolation(err) {
			return Order{}, err
		}
		if lookErr != nil {
			return Order{}, lookErr
		}
		if prev.Currency != o.Currency || !slices.Equal(prev.Items, o.Items) {
			return Order{}, apperr.New(apperr.ErrUnprocessable, "this Idempotency-Key was used for a different order")
		}
		return prev, nil
	}
	if err != nil {
		return Order{}, fmt.Errorf("create order: %w", err)
	}
	return o, nil
}

// checkAllowance refuses an order beyond the plan's monthly limit, counting
// userID's orders since the start of t's month (UTC). The lock makes
// concurrent creates of one user count one after the other, so a burst
// cannot overshoot the limit.
func checkAllowance(ctx context.Context, tx *database.Tx, userID string, a Allowance, t time.Time) error {
	if a.OrdersPerMonth <= 0 {
		return nil
	}
	if err := tx.Lock(ctx, "orders-of:"+userID); err != nil {
		return err
	}
	n, err := ordersSince(ctx, tx, userID, time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC), a.OrdersPerMonth)
	if err != nil || n < a.OrdersPerMonth {
		return err
	}
	return apperr.LimitError(
		apperr.Limit{Name: "orders_per_month", Plan: a.Plan, Allowed: a.OrdersPerMonth, Upgrade: a.Upgrade},
		fmt.Sprintf("the %s plan allows %d orders a month, and this month's are used; to create more, %s", a.Plan, a.OrdersPerMonth, a.Upgrade))
}

// Order returns userID's order orderID with its items; another user's order
// and a missing one are the same apperr.ErrNotFound error.
func (s *Service) Order(ctx context.Context, userID, orderID string) (Order, error) {
	if !id.Valid("ord", orderID) {
		return Order{}, apperr.New(apperr.ErrNotFound, msgNoSuchOrder)
	}
	o, err := userOrder(ctx, s.db, userID, orderID)
	if errors.Is(err, apperr.ErrNotFound) {
		return Order{}, apperr.Wrap(err, apperr.ErrNotFound, msgNoSuchOrder)
	}
	return o, err
}

// Orders returns up to limit of userID's orders that match f, newest first,
// with their items, after the position after (nil for the first page), in
// one query whatever limit is.
func (s *Service) Orders(ctx context.Context, userID string, f Filter, after *position, limit int) ([]Order, error) {
	return listOrders(ctx, s.db, userID, f, after, limit)
}

// Cancel cancels userID's pending order orderID and returns it. An order in
// another status is an apperr.ErrConflict saying which; another user's order
// and a missing one are the same apperr.ErrNotFound error.
func (s *Service) Cancel(ctx context.Context, userID, orderID string) (Order, error) {
	if !id.Valid("ord", orderID) {
		return Order{}, apperr.New(apperr.ErrNotFound, msgNoSuchOrder)
	}
	return s.move(ctx, userID, orderID, Cancelled, "")
}

// MarkPaid records that order orderID, whoever's it is, was paid by the
// payment paymentRef (a reference of the payment provider's). It is for
// the billing service, through app's wiring, and is safe to call twice: an
// order already paid by the same payment is returned as it is. A cancelled
// order, or one paid by another payment, is an apperr.ErrConflict; a
// missing one apperr.ErrNotFound.
func (s *Service) MarkPaid(ctx context.Context, orderID, paymentRef string) (Order, error) {
	if paymentRef == "" {
		return Order{}, errors.New("orders: MarkPaid needs a payment reference")
	}
	o, err := s.move(ctx, "", orderID, Paid, paymentRef)
	if errors.Is(err, apperr.ErrConflict) {
		prev, lookErr := orderWhere(ctx, s.db, byID, orderID)
		if lookErr == nil && prev.Status != Pending && prev.Status != Cancelled && prev.PaymentRef == paymentRef {
			return prev, nil
		}
	}
	return o, err
}

// Fulfil records that paid order orderID, whoever's it is, was shipped. An
// order in another status is an apperr.ErrConflict; a missing one
// apperr.ErrNotFound.
func (s *Service) Fulfil(ctx context.Context, orderID string) (Order, error) {
	return s.move(ctx, "", orderID, Fulfilled, "")
}

// move makes one transition of the state machine and returns the order as
// it then is; userID "" means any user's order (for operations the system
// performs, not a client).
func (s *Service) move(ctx context.Context, userID, orderID string, to Status, paymentRef string) (Order, error) {
	var o Order
	err := s.db.Transact(ctx, func(tx *database.Tx) error {
		var set string
		var args []any
		if paymentRef != "" {
			set, args = `, payment_ref = $5`, []any{paymentRef}
		}
		if err := transition(ctx, tx, orderID, userID, to, now(), set, args...); err != nil {
			return err
		}
		var err error
		o, err = orderWhere(ctx, tx, byID, orderID)
		return err
	})
	if errors.Is(err, apperr.ErrNotFound) {
		return Order{}, apperr.Wrap(err, apperr.ErrNotFound, msgNoSuchOrder)
	}
	return o, err
}
