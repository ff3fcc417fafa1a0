package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/id"
)

// Tokens are the credentials of a login: a short-lived access token, and
// the refresh token that gets the next one.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	// ExpiresIn is the access token's lifetime.
	ExpiresIn time.Duration
}

var errBadLogin = apperr.New(apperr.ErrUnauthenticated, "invalid email or password")

// LogIn starts a session for the account with email and password. It
// answers an unknown email and a wrong password with the same
// apperr.ErrUnauthenticated error, after the same hashing work; an
// unverified address is an apperr.ErrForbidden error; too many attempts on
// one address an apperr.ErrRateLimited error; a malformed email or password
// an *apperr.ValidationError.
func (s *Service) LogIn(ctx context.Context, email, password string) (Tokens, error) {
	var v apperr.Validation
	email = normalizeEmail(&v, "email", email)
	v.Check(password != "", "password", "is required")
	v.Check(utf8.RuneCountInString(password) <= maxPasswordRunes, "password", "is too long")
	if err := v.Err(); err != nil {
		return Tokens{}, err
	}
	if err := s.acctLimit.Check("login:" + email); err != nil {
		return Tokens{}, err
	}
	u, err := userByEmail(ctx, s.db, email)
	if errors.Is(err, apperr.ErrNotFound) {
		dummyVerify(password)
		return Tokens{}, errBadLogin
	}
	if err != nil {
		return Tokens{}, err
	}
	ok, rehash, err := verifyPassword(password, u.PasswordHash)
	if err != nil {
		return Tokens{}, err
	}
	if !ok {
		return Tokens{}, errBadLogin
	}
	if u.EmailVerifiedAt == nil {
		return Tokens{}, apperr.New(apperr.ErrForbidden, "verify your email address before logging in")
	}
	if rehash {
		// Parameters were raised since this hash was made: upgrade it now,
		// while the password is at hand. Failing here is no reason to refuse
		// the login, but it is worth a line in the log.
		if err := s.rehash(ctx, u.ID, password); err != nil {
			s.logger.WarnContext(ctx, "password rehash failed", slog.String("user_id", u.ID), slog.Any("err", err))
		}
	}
	return s.startSession(ctx, u.ID)
}

func (s *Service) rehash(ctx context.Context, userID, password string) error {
	h, err := HashPassword(password, DefaultPasswordParams)
	if err != nil {
		return err
	}
	return updatePasswordHash(ctx, s.db, userID, h, now())
}

// startSession begins a new login (session) for a user, with its first
// refresh token.
func (s *Service) startSession(ctx context.Context, userID string) (Tokens, error) {
	sessionID := id.New("ses")
	refresh, hash := newToken("")
	t := now()
	expires := t.Add(s.refreshTTL)
	err := s.db.Transact(ctx, func(tx *database.Tx) error {
		if err := insertSession(ctx, tx, sessionID, userID, expires, t); err != nil {
			return err
		}
		return insertRefreshToken(ctx, tx, hash, sessionID, userID, expires, t)
	})
	if err != nil {
		return Tokens{}, err
	}
	return s.tokens(userID, sessionID, refresh, t)
}

func (s *Service) tokens(userID, sessionID, refresh string, t time.Time) (Tokens, error) {
	access, _, err := s.keys.Issue(userID, sessionID, s.accessTTL, t)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{AccessToken: access, RefreshToken: refresh, ExpiresIn: s.accessTTL}, nil
}

// Refresh trades a refresh token for new tokens of the same session. The
// old one is used up; presenting it again revokes its session, the thief's
// tokens and the owner's alike, and is an apperr.ErrUnauthenticated error,
// as are an unknown or expired token and a revoked session.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	if err := checkTokenField("refresh_token", refreshToken); err != nil {
		return Tokens{}, err
	}
	t := now()
	next, nextHash := newToken("")
	var sessionID, userID string
	reused := false
	err := s.db.Transact(ctx, func(tx *database.Tx) error {
		var err error
		sessionID, userID, err = rotateRefreshToken(ctx, tx, hashToken(refreshToken), t.Add(s.refreshTTL), t)
		if errors.Is(err, errTokenReused) {
			reused = true
			return nil // committed: the revocation must stick
		}
		if err != nil {
			return err
		}
		if err := s.acctLimit.Check("refresh:" + userID); err != nil {
			return err
		}
		return insertRefreshToken(ctx, tx, nextHash, sessionID, userID, t.Add(s.refreshTTL), t)
	})
	switch {
	case err == nil && reused:
		s.logger.WarnContext(ctx, "refresh token reused; session revoked", slog.String("session_id", sessionID))
		return Tokens{}, apperr.New(apperr.ErrUnauthenticated, "refresh token already used; its login is revoked")
	case errors.Is(err, apperr.ErrNotFound):
		return Tokens{}, apperr.Wrap(err, apperr.ErrUnauthenticated, "refresh token invalid, expired or revoked")
	case err != nil:
		return Tokens{}, fmt.Errorf("refresh: %w", err)
	}
	return s.tokens(userID, sessionID, next, t)
}

// LogOut revokes a session: none of its refresh tokens works again. Access
// tokens already issued stay valid until they expire (minutes).
func (s *Service) LogOut(ctx context.Context, sessionID string) error {
	return revokeSession(ctx, s.db, sessionID, now())
}
