package mail

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/rightsize/rightsize/internal/platform/apperr"
)

// SendArgs is the job that sends one message. A service inserts it with its
// jobs client's InsertTx, in the transaction that wrote the row the message is
// about, so a rolled-back write sends nothing. ExampleSendWorker shows the
// worker sending one.
type SendArgs struct {
	Message Message `json:"message"`
}

// Kind identifies the job; it is stored with every queued job, so it must
// never change.
func (SendArgs) Kind() string { return "mail.send" }

// InsertOpts allows 10 attempts: with River's default backoff (attempt⁴
// seconds) that keeps retrying for about four hours, long enough to ride out
// a mail provider's outage, not so long that a sign-in link arrives a day
// late.
func (SendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 10}
}

// SendWorker works SendArgs jobs by sending their message with Mailer.
// A message that can never be sent cancels its job; any other failure returns
// the error, so River retries with backoff.
type SendWorker struct {
	river.WorkerDefaults[SendArgs]
	Mailer Mailer
}

// Work sends the job's message.
func (w SendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	err := w.Mailer.Send(ctx, job.Args.Message)
	if errors.Is(err, apperr.ErrInvalid) {
		return river.JobCancel(err)
	}
	return err
}

// Timeout is a backstop well above the SMTP breaker's own timeout, so a slow
// server is judged, and counted, by the breaker rather than cut off by River.
func (SendWorker) Timeout(*river.Job[SendArgs]) time.Duration { return 30 * time.Second }
