package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/riverqueue/river"

	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/mail"
)

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
	db        *database.DB
	publicURL string
}

func (w *passwordResetWorker) Work(ctx context.Context, job *river.Job[PasswordResetArgs]) error {
	now := time.Now().UTC()
	u, err := userByEmail(ctx, w.db, job.Args.Email)
	if errors.Is(err, apperr.ErrNotFound) {
		return nil // nothing to send, and nothing to tell anyone
	}
	if err != nil {
		return err
	}
	client := river.ClientFromContext[*sql.Tx](ctx)
	token, hash := newToken("")
	return w.db.Transact(ctx, func(tx *database.Tx) error {
		if err := insertEmailToken(ctx, tx, hash, purposeReset, u.ID, now.Add(resetTokenTTL), now); err != nil {
			return err
		}
		_, err := client.InsertTx(ctx, tx.SQL(), mail.SendArgs{Message: resetMessage(u, link(w.publicURL, "/reset-password", token))}, nil)
		return err
	})
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
	n, err := deleteExpired(ctx, w.db, time.Now().UTC(), 1000)
	if err != nil {
		return fmt.Errorf("auth cleanup after %d rows: %w", n, err)
	}
	return nil
}

// RegisterWorkers adds the auth service's job workers. publicURL starts the
// links in the emails they send.
func RegisterWorkers(w *river.Workers, db *database.DB, publicURL string) {
	river.AddWorker(w, &passwordResetWorker{db: db, publicURL: publicURL})
	river.AddWorker(w, &cleanupWorker{db: db})
}

// Periodic lists the auth service's periodic jobs.
func Periodic() []*river.PeriodicJob {
	return []*river.PeriodicJob{jobs.Every(time.Hour, CleanupArgs{})}
}

func link(publicURL, path, token string) string {
	return publicURL + path + "?token=" + url.QueryEscape(token)
}

func verifyMessage(u User, link string) mail.Message {
	return mail.Message{
		To:      u.Email,
		Subject: "Welcome! Please verify your email",
		Text: "Hello " + u.Name + ",\n\nWelcome aboard. To verify your email address, open this link within 48 hours:\n\n" +
			link + "\n\nIf you did not sign up, ignore this message.\n",
	}
}

func resetMessage(u User, link string) mail.Message {
	return mail.Message{
		To:      u.Email,
		Subject: "Reset your password",
		Text: "Hello " + u.Name + ",\n\nTo choose a new password, open this link within an hour:\n\n" +
			link + "\n\nIf you did not ask for this, ignore this message: your password is unchanged.\n",
	}
}

// existingAccountMessage goes to the owner of an email when someone signs up
// with it again: the signup answer cannot say "taken" without telling an
// attacker which addresses have accounts.
func existingAccountMessage(email, publicURL string) mail.Message {
	return mail.Message{
		To:      email,
		Subject: "You already have an account",
		Text: "Hello,\n\nSomeone, probably you, tried to sign up with this email address, which already has an account.\n" +
			"To log in, go to " + publicURL + "/login. If you forgot your password, reset it there.\n\n" +
			"If this was not you, ignore this message.\n",
	}
}
