package orders

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/riverqueue/river"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/mail"
)

// ConfirmationArgs mails the owner of a new order its confirmation. It is
// inserted in the transaction that creates the order, so a rolled-back
// order sends nothing and a committed one is never left unconfirmed.
type ConfirmationArgs struct {
	OrderID string `json:"order_id"`
}

// Kind identifies the job; it is stored with every queued job, so it must
// never change.
func (ConfirmationArgs) Kind() string { return "orders.confirmation" }

type confirmationWorker struct {
	river.WorkerDefaults[ConfirmationArgs]
	s *Service
}

func (w *confirmationWorker) Work(ctx context.Context, job *river.Job[ConfirmationArgs]) error {
	o, err := orderWhere(ctx, w.s.db, byID, job.Args.OrderID)
	if errors.Is(err, apperr.ErrNotFound) {
		return nil // deleted since: nothing to confirm
	}
	if err != nil {
		return err
	}
	to, err := w.s.recipient(ctx, o.UserID)
	if errors.Is(err, apperr.ErrNotFound) {
		return nil // the account is gone, and its address with it
	}
	if err != nil {
		return fmt.Errorf("recipient of order %s: %w", o.ID, err)
	}
	err = w.s.mailer.Send(ctx, confirmationMessage(to, o))
	if errors.Is(err, apperr.ErrInvalid) {
		return river.JobCancel(err) // the address can never receive it
	}
	return err
}

// Workers registers the api service's job workers.
func (s *Service) Workers(w *river.Workers) {
	river.AddWorker(w, &confirmationWorker{s: s})
}

func confirmationMessage(to Recipient, o Order) mail.Message {
	var b strings.Builder
	fmt.Fprintf(&b, "Hello %s,\n\nWe received your order %s:\n\n", to.Name, o.ID)
	for _, it := range o.Items {
		fmt.Fprintf(&b, "  %d × %s (%s): %s\n", it.Quantity, it.Name, it.SKU, formatAmount(it.Amount, o.Currency))
	}
	fmt.Fprintf(&b, "\nTotal: %s\n\nIt is waiting for payment.\n", formatAmount(o.TotalAmount, o.Currency))
	return mail.Message{To: to.Email, Subject: "Your order " + o.ID, Text: b.String()}
}
