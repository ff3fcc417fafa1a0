package auth

import (
	"context"
	"errors"
	"unicode/utf8"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/database"
)

// ChangePassword sets a new password for a user who proves the current one,
// signs out every other login (keepSession, the caller's, stays) and mails
// the owner. keepSession must be live, else, as for a user who no longer
// exists, it is an apperr.ErrUnauthenticated error. A wrong current
// password or an unacceptable new one is an *apperr.ValidationError on
// "current_password" or "new_password".
func (s *Service) ChangePassword(ctx context.Context, userID, keepSession, current, next string) error {
	var v apperr.Validation
	v.Check(current != "", "current_password", "is required")
	v.Check(utf8.RuneCountInString(current) <= maxPasswordRunes, "current_password", "is too long")
	v.Check(next != "", "new_password", "is required")
	if err := v.Err(); err != nil {
		return err
	}
	if err := s.acctLimit.Check("password:" + userID); err != nil {
		return err
	}
	u, err := s.liveLogin(ctx, s.db, userID, keepSession)
	if err != nil {
		return err
	}
	ok, _, err := verifyPassword(ctx, current, u.PasswordHash, s.hashParams)
	if err != nil {
		return err
	}
	if !ok {
		v.Add("current_password", "is not your current password")
		return v.Err()
	}
	addFieldErrors(&v, "new_password", CheckPassword(next, u.Email))
	if err := v.Err(); err != nil {
		return err
	}
	return s.setPassword(ctx, u.ID, next, keepSession, func(tx *database.Tx) error {
		return s.mailTx(ctx, tx, passwordChangedMessage(u, s.publicURL))
	})
}

// RequestPasswordReset queues a job that mails a reset link to email if it
// is an account's. It does nothing else, for any well-formed address, so
// that neither its answer nor its timing tells whether the account exists.
// It returns the normalized address.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) (string, error) {
	var v apperr.Validation
	email = normalizeEmail(&v, "email", email)
	if err := v.Err(); err != nil {
		return email, err
	}
	if err := s.acctLimit.Check("reset:" + email); err != nil {
		return email, err
	}
	return email, s.db.Transact(ctx, func(tx *database.Tx) error {
		return s.jobs.InsertTx(ctx, tx, PasswordResetArgs{Email: email}, nil)
	})
}

// ResetPassword sets a new password with the token of a reset link, marks
// the email verified (the link proved it), signs out every login, revokes
// every API key (someone else may hold the account, and may have made one),
// and mails the owner. An
// unknown, used or expired token is an *apperr.ValidationError on "token";
// an unacceptable password one on "new_password".
func (s *Service) ResetPassword(ctx context.Context, token, next string) error {
	var v apperr.Validation
	checkToken(&v, "token", token)
	v.Check(next != "", "new_password", "is required")
	if err := v.Err(); err != nil {
		return err
	}
	hash := hashToken(token)
	u, err := emailTokenUser(ctx, s.db, hash, purposeReset, now())
	if errors.Is(err, apperr.ErrNotFound) {
		return invalidToken("token")
	}
	if err != nil {
		return err
	}
	addFieldErrors(&v, "new_password", CheckPassword(next, u.Email))
	if err := v.Err(); err != nil {
		return err
	}
	// The token is used up in the transaction that changes the password, so
	// two requests racing with one link change it once.
	err = s.setPassword(ctx, u.ID, next, "", func(tx *database.Tx) error {
		if _, err := useEmailToken(ctx, tx, hash, purposeReset, now()); err != nil {
			return err
		}
		if err := markEmailVerified(ctx, tx, u.ID, now()); err != nil {
			return err
		}
		revoked, err := revokeAllKeys(ctx, tx, u.ID, now())
		if err != nil {
			return err
		}
		return s.mailTx(ctx, tx, passwordResetMessage(u, revoked, s.publicURL))
	})
	if errors.Is(err, apperr.ErrNotFound) {
		return invalidToken("token")
	}
	return err
}

// setPassword is the one place a password changes. It hashes pw (outside
// any transaction: that takes tens of milliseconds), then in one
// transaction runs also (if not nil), stores the hash (which starts the
// count of failed logins over), retires every
// outstanding reset link, so that one from an older mail cannot undo this
// change, and revokes every login but keepSession (which may be "").
func (s *Service) setPassword(ctx context.Context, userID, pw, keepSession string, also func(tx *database.Tx) error) error {
	hash, err := HashPassword(ctx, pw, s.hashParams)
	if err != nil {
		return err
	}
	t := now()
	return s.db.Transact(ctx, func(tx *database.Tx) error {
		// First, so that a key created or a login started meanwhile waits
		// for this change rather than slipping past its revocations.
		if err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		if err := setPasswordHash(ctx, tx, userID, hash, t); err != nil {
			return err
		}
		if err := useEmailTokensOf(ctx, tx, userID, purposeReset, t); err != nil {
			return err
		}
		return revokeOtherSessions(ctx, tx, userID, keepSession, t)
	})
}
