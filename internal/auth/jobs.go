package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/mail"
)

// The emails that carry a single-use token are sent by jobs that hold only a
// user ID or an address, never the token: the worker makes the token and
// mails it in one go, so no raw token rests in the job table (River keeps
// finished jobs for a day) or passes through a log.

// SendVerificationArgs mails a new account its verification link. It is
// inserted in the signup transaction.
type SendVerificationArgs struct {
	UserID string `json:"user_id"`
}

// Kind identifies the job; it is stored with every queued job, so it must
// never change.
func (SendVerificationArgs) Kind() string { return "auth.send_verification" }

type sendVerificationWorker struct {
	river.WorkerDefaults[SendVerificationArgs]
	tokenMailer
}

func (w *sendVerificationWorker) Work(ctx context.Context, job *river.Job[SendVerificationArgs]) error {
	u, err := userByID(ctx, w.db, job.Args.UserID)
	return w.sendVerification(ctx, u, err)
}

// sendVerification mails u a verification link, given u as looked up: an
// account that is gone (deleted, purged, never there) or verified meanwhile
// (by a reset link) gets nothing, and nobody is told.
func (m tokenMailer) sendVerification(ctx context.Context, u User, err error) error {
	if errors.Is(err, apperr.ErrNotFound) || (err == nil && u.EmailVerifiedAt != nil) {
		return nil
	}
	if err != nil {
		return err
	}
	return m.send(ctx, u, purposeVerify, verifyTokenTTL, "/verify-email", verifyMessage)
}

// ResendVerificationArgs asks for a fresh verification link to be mailed to
// Email, if it has an account that is not verified yet. Like
// PasswordResetArgs, the request handler only queues it.
type ResendVerificationArgs struct {
	Email string `json:"email"`
}

// Kind identifies the job; it must never change.
func (ResendVerificationArgs) Kind() string { return "auth.resend_verification" }

type resendVerificationWorker struct {
	river.WorkerDefaults[ResendVerificationArgs]
	tokenMailer
}

func (w *resendVerificationWorker) Work(ctx context.Context, job *river.Job[ResendVerificationArgs]) error {
	u, err := userByEmail(ctx, w.db, job.Args.Email)
	return w.sendVerification(ctx, u, err)
}

// PasswordResetArgs asks for a reset link to be mailed to Email, if it is an
// account's. The request handler only queues this job, whether or not the
// account exists, so its answer and its timing reveal nothing; the worker
// finds out.
type PasswordResetArgs struct {
	Email string `json:"email"`
}

// Kind identifies the job; it is stored with every queued job, so it must
// never change.
func (PasswordResetArgs) Kind() string { return "auth.password_reset" }

type passwordResetWorker struct {
	river.WorkerDefaults[PasswordResetArgs]
	tokenMailer
}

func (w *passwordResetWorker) Work(ctx context.Context, job *river.Job[PasswordResetArgs]) error {
	u, err := userByEmail(ctx, w.db, job.Args.Email)
	if errors.Is(err, apperr.ErrNotFound) {
		return nil // nothing to send, and nothing to tell anyone
	}
	if err != nil {
		return err
	}
	return w.send(ctx, u, purposeReset, resetTokenTTL, "/reset-password", resetMessage)
}

// tokenMailer stores a new single-use token for a user and mails its link.
type tokenMailer struct {
	db        *database.DB
	mailer    mail.Mailer
	publicURL string
}

func (m tokenMailer) send(ctx context.Context, u User, purpose string, ttl time.Duration, path string, message func(User, string) mail.Message) error {
	t := now()
	token, hash := newToken("")
	if err := insertEmailToken(ctx, m.db, hash, purpose, u.ID, t.Add(ttl), t); err != nil {
		return err
	}
	// A failed send is retried by River with a new token; the unused one
	// expires harmlessly.
	err := m.mailer.Send(ctx, message(u, link(m.publicURL, path, token)))
	if errors.Is(err, apperr.ErrInvalid) {
		return river.JobCancel(err) // the address can never receive it
	}
	return err
}

// CleanupArgs deletes refresh and email tokens that can no longer be used.
type CleanupArgs struct{}

// Kind identifies the job; it must never change.
func (CleanupArgs) Kind() string { return "auth.cleanup" }

type cleanupWorker struct {
	river.WorkerDefaults[CleanupArgs]
	db *database.DB
}

func (w *cleanupWorker) Work(ctx context.Context, job *river.Job[CleanupArgs]) error {
	n, err := deleteExpired(ctx, w.db, now(), 1000)
	if err != nil {
		return fmt.Errorf("auth cleanup after %d rows: %w", n, err)
	}
	return nil
}

// Workers registers the auth service's job workers, which send their emails
// with the platform's mailer.
func (s *Service) Workers(w *river.Workers) {
	tm := tokenMailer{db: s.db, mailer: s.mailer, publicURL: s.publicURL}
	river.AddWorker(w, &sendVerificationWorker{tokenMailer: tm})
	river.AddWorker(w, &resendVerificationWorker{tokenMailer: tm})
	river.AddWorker(w, &passwordResetWorker{tokenMailer: tm})
	river.AddWorker(w, &cleanupWorker{db: s.db})
}

// Periodic lists the auth service's periodic jobs.
func (s *Service) Periodic() []*river.PeriodicJob {
	return []*river.PeriodicJob{jobs.Every(time.Hour, CleanupArgs{})}
}
