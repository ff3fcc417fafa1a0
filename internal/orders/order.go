package orders

import (
	"fmt"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/text"
)

// Status is where an order is in its life.
type Status string

// The statuses of an order. A new order is pending; payment makes it paid,
// shipping fulfilled; only a pending order can be cancelled.
const (
	Pending   Status = "pending"
	Paid      Status = "paid"
	Fulfilled Status = "fulfilled"
	Cancelled Status = "cancelled"
)

// from lists, for each status an order can move to, the status it must be
// in: the whole state machine.
var from = map[Status]Status{
	Paid:      Pending,
	Fulfilled: Paid,
	Cancelled: Pending,
}

func (s Status) valid() bool {
	switch s {
	case Pending, Paid, Fulfilled, Cancelled:
		return true
	}
	return false
}

// Order is an order with its items.
type Order struct {
	ID          string
	UserID      string
	Status      Status
	Currency    string
	TotalAmount int64 // in the currency's minor units
	Items       []Item
	PaymentRef  string // set once paid
	CreatedAt   time.Time
	UpdatedAt   time.Time
	PaidAt      *time.Time
	FulfilledAt *time.Time
	CancelledAt *time.Time
}

// Item is a line of an order.
type Item struct {
	SKU        string
	Name       string
	Quantity   int64
	UnitAmount int64 // in the currency's minor units
	Amount     int64 // Quantity × UnitAmount
}

// NewOrder is what a client asks to order.
type NewOrder struct {
	Currency string
	Items    []NewItem
	// IdempotencyKey is the create request's key, if it had one: stored
	// under a unique index, so a request re-run never makes a second order.
	IdempotencyKey string
}

// NewItem is one line of a NewOrder.
type NewItem struct {
	SKU        string
	Name       string
	Quantity   int64
	UnitAmount int64
}

// Limits of an order. MaxAmount is the largest integer a JSON number holds
// exactly in every client (2^53 - 1, JavaScript's MAX_SAFE_INTEGER): no
// amount, line or total, may exceed it.
const (
	MaxItems    = 100
	MaxQuantity = 1_000_000
	MaxAmount   = 1<<53 - 1
	maxSKU      = 64
	maxItemName = 200
)

// check validates o and computes its lines and total. Every bad field is
// reported, by its JSON path (items[2].quantity).
func (o NewOrder) check() (items []Item, total int64, err error) {
	var v apperr.Validation
	if _, ok := currencies[o.Currency]; !ok {
		v.Add("currency", "must be the ISO 4217 code of a currency in circulation, in capitals, such as EUR")
	}
	switch {
	case len(o.Items) == 0:
		v.Add("items", "must hold at least one item")
	case len(o.Items) > MaxItems:
		v.Add("items", fmt.Sprintf("must hold at most %d items", MaxItems))
	}
	if len(o.Items) > MaxItems {
		return nil, 0, v.Err()
	}
	items = make([]Item, len(o.Items))
	overflow := false
	for i, in := range o.Items {
		field := func(name string) string { return itemField(i, name) }
		if !validSKU(in.SKU) {
			v.Add(field("sku"), fmt.Sprintf("must be 1 to %d letters, digits, '.', '_' or '-'", maxSKU))
		}
		if msg := text.CheckLine(in.Name, maxItemName); msg != "" {
			v.Add(field("name"), msg)
		}
		qtyOK := in.Quantity >= 1 && in.Quantity <= MaxQuantity
		if !qtyOK {
			v.Add(field("quantity"), fmt.Sprintf("must be a whole number from 1 to %d", MaxQuantity))
		}
		unitOK := in.UnitAmount >= 0 && in.UnitAmount <= MaxAmount
		if !unitOK {
			v.Add(field("unit_amount"), fmt.Sprintf("must be a whole number of minor units from 0 to %d", int64(MaxAmount)))
		}
		if !qtyOK || !unitOK {
			continue
		}
		// quantity ≤ 10^6 and unit ≤ 2^53 cannot overflow int64 (2^73
		// would); the line must still fit under MaxAmount.
		amount := in.Quantity * in.UnitAmount
		if in.UnitAmount != 0 && (in.UnitAmount > MaxAmount/in.Quantity || amount > MaxAmount) {
			v.Add(field("unit_amount"), fmt.Sprintf("times quantity must not exceed %d", int64(MaxAmount)))
			continue
		}
		items[i] = Item{SKU: in.SKU, Name: in.Name, Quantity: in.Quantity, UnitAmount: in.UnitAmount, Amount: amount}
		if total > MaxAmount-amount {
			overflow = true
		} else {
			total += amount
		}
	}
	if overflow {
		v.Add("items", fmt.Sprintf("must not total more than %d minor units", int64(MaxAmount)))
	}
	if err := v.Err(); err != nil {
		return nil, 0, err
	}
	return items, total, nil
}

// itemField names a field of the i-th item as clients read it.
func itemField(i int, name string) string { return fmt.Sprintf("items[%d].%s", i, name) }

func validSKU(s string) bool {
	if len(s) < 1 || len(s) > maxSKU {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
