package mail_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/riverqueue/river"

	"github.com/rightsize/rightsize/internal/platform/mail"
)

func ExampleSendWorker() {
	// The console mailer, as in development; timestamps are dropped only so
	// that the output is always the same.
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	w := &mail.SendWorker{Mailer: mail.NewConsole(logger, "Rightsize <no-reply@example.com>")}

	// The worker process registers it; River then calls Work for each job.
	workers := river.NewWorkers()
	river.AddWorker(workers, w)

	// A service inserted this job in the transaction that wrote its row;
	// here Work is called directly, as River would.
	msg := mail.Message{To: "ada@example.com", Subject: "Welcome", Text: "Hello, Ada"}
	job := &river.Job[mail.SendArgs]{Args: mail.SendArgs{Message: msg}}
	fmt.Println(w.Work(context.Background(), job))

	// A message that can never be sent cancels its job rather than retrying.
	job.Args.Message.To = "ada@example.com\r\nBcc: eve@example.com"
	fmt.Println(w.Work(context.Background(), job))
	// Output:
	// level=INFO msg="email not sent: console mailer" from="Rightsize <no-reply@example.com>" to=ada@example.com subject=Welcome body="Hello, Ada"
	// <nil>
	// JobCancelError: mail: invalid input: to: must not contain line breaks
}
