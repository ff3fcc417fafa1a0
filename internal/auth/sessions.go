package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/id"
	"github.com/rightsize/rightsize/internal/platform/mail"
	"github.com/rightsize/rightsize/internal/platform/ratelimit"
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

// The account-wide defences against guessing, which count consecutive
// failures from every client. A client that has not been failing on an
// account is never slowed by them: they cannot be used to lock its owner
// out, bar the last resort at maxFailedLogins.
const (
	// delayAfterFailures consecutive failures start a delay, doubling with
	// each further one up to maxLoginDelay, before a client that has been
	// failing may try again.
	delayAfterFailures = 5
	maxLoginDelay      = 15 * time.Minute
	// notifyAfterFailures consecutive failures mail the owner.
	notifyAfterFailures = 10
	// maxFailedLogins consecutive failures lock password logins until a
	// reset: the most NIST SP 800-63B allows.
	maxFailedLogins = 100
)

// loginDelay is how long after its latest failure an account with n
// consecutive failures refuses clients that have been failing.
func loginDelay(n int) time.Duration {
	if n < delayAfterFailures {
		return 0
	}
	return min(time.Second<<min(n-delayAfterFailures, 20), maxLoginDelay)
}

// LogIn starts a session for the account with email and password, asked
// from clientIP. It answers an unknown email and a wrong password with the
// same apperr.ErrUnauthenticated error, after the same hashing work. Only
// failures are throttled: per account and client IP (RATE_LIMIT_ACCOUNT),
// and, once an account has failed delayAfterFailures times in a row, with a
// growing delay for clients that have been failing (apperr.ErrRateLimited
// errors with RetryAfter). After maxFailedLogins failures password logins
// are locked until a reset (apperr.ErrForbidden). An unverified address is
// an apperr.ErrForbidden error; a malformed email or password an
// *apperr.ValidationError; no free hashing slot an apperr.ErrUnavailable.
func (s *Service) LogIn(ctx context.Context, email, password, clientIP string) (Tokens, error) {
	var v apperr.Validation
	email = normalizeEmail(&v, "email", email)
	v.Check(password != "", "password", "is required")
	v.Check(utf8.RuneCountInString(password) <= maxPasswordRunes, "password", "is too long")
	if err := v.Err(); err != nil {
		return Tokens{}, err
	}
	client := "login:" + email + "|" + clientIP
	if err := s.acctLimit.Blocked(client); err != nil {
		return Tokens{}, err
	}
	u, err := userByEmail(ctx, s.db, email)
	if errors.Is(err, apperr.ErrNotFound) {
		// An unknown address answers as an account would, delay and lock
		// included, from failures counted in memory: otherwise the sixth
		// wrong password would tell which addresses have an account.
		if err := s.throttled(s.unknown.get(email), client); err != nil {
			return Tokens{}, err
		}
		if err := dummyVerify(ctx, password, s.hashParams); err != nil {
			return Tokens{}, err
		}
		s.failed(client)
		s.unknown.fail(email, now())
		return Tokens{}, errBadLogin
	}
	if err != nil {
		return Tokens{}, err
	}
	if err := s.throttled(u, client); err != nil {
		return Tokens{}, err
	}
	ok, rehash, err := verifyPassword(ctx, password, u.PasswordHash, s.hashParams)
	if err != nil {
		return Tokens{}, err
	}
	if !ok {
		s.failed(client)
		if err := s.loginFailed(ctx, u, clientIP); err != nil {
			return Tokens{}, err
		}
		return Tokens{}, errBadLogin
	}
	if u.EmailVerifiedAt == nil {
		return Tokens{}, apperr.New(apperr.ErrForbidden, "verify your email address before logging in")
	}
	if u.FailedLogins > 0 {
		if err := clearFailedLogins(ctx, s.db, u.ID); err != nil {
			return Tokens{}, err
		}
	}
	if rehash {
		// Parameters were raised since this hash was made: upgrade it now,
		// while the password is at hand. Failing here is no reason to refuse
		// the login, but it is worth a line in the log.
		if err := s.rehash(ctx, u.ID, u.PasswordHash, password); err != nil {
			s.logger.WarnContext(ctx, "password rehash failed", slog.String("user_id", u.ID), slog.Any("err", err))
		}
	}
	return s.startSession(ctx, u.ID)
}

// failed records a failed login of client (an account and an IP): it
// spends the client's failure budget and marks it as failing for
// maxLoginDelay.
func (s *Service) failed(client string) {
	s.acctLimit.Check(client) // spent, whatever is left
	s.failing.Allow(client, time.Now())
}

// throttled returns the error a login of client on u's account gets
// before any password is checked: locked after maxFailedLogins failures,
// or rate limited while a client that has been failing must still wait.
func (s *Service) throttled(u User, client string) error {
	if u.FailedLogins >= maxFailedLogins {
		return apperr.New(apperr.ErrForbidden, "password logins to this account are locked after too many failures: reset the password to unlock them")
	}
	if u.LastFailedLoginAt == nil || !s.failing.Spent(client) {
		return nil
	}
	if wait := time.Until(u.LastFailedLoginAt.Add(loginDelay(u.FailedLogins))); wait > 0 {
		return &apperr.Error{Kind: apperr.ErrRateLimited, RetryAfter: wait,
			Message: fmt.Sprintf("too many failed logins: try again in %d s", int(wait.Seconds()+0.999))}
	}
	return nil
}

// unknownFailures counts the failed logins of addresses that have no
// account, as users.failed_logins does for those that have, so that both
// are throttled alike. It lives in memory, bounded to ratelimit.MaxKeys
// addresses (a random one makes room): behind several instances each
// counts its own, which blurs the comparison without closing it.
type unknownFailures struct {
	mu sync.Mutex
	m  map[string]User // only FailedLogins and LastFailedLoginAt
}

func (f *unknownFailures) get(email string) User {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[email]
}

func (f *unknownFailures) fail(email string, t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = make(map[string]User)
	}
	u, ok := f.m[email]
	if !ok && len(f.m) >= ratelimit.MaxKeys {
		for k := range f.m {
			delete(f.m, k)
			break
		}
	}
	u.FailedLogins++
	u.LastFailedLoginAt = &t
	f.m[email] = u
}

// loginFailed counts a failed login on u's account and, when the count
// crosses notifyAfterFailures or maxFailedLogins, mails the owner, in the
// same transaction.
func (s *Service) loginFailed(ctx context.Context, u User, clientIP string) error {
	return s.db.Transact(ctx, func(tx *database.Tx) error {
		n, err := recordFailedLogin(ctx, tx, u.ID, now())
		if err != nil {
			return err
		}
		if n == notifyAfterFailures || n == maxFailedLogins {
			s.logger.WarnContext(ctx, "failed logins on an account", slog.String("user_id", u.ID),
				slog.Int("failed_logins", n), slog.String("client_ip", clientIP))
			if u.EmailVerifiedAt != nil {
				return s.mailTx(ctx, tx, failedLoginsMessage(u, n, s.publicURL))
			}
		}
		return nil
	})
}

// rehash replaces old, the stored hash of password, by one made with the
// configured costs, unless the password changed since old was read.
func (s *Service) rehash(ctx context.Context, userID, old, password string) error {
	h, err := HashPassword(ctx, password, s.hashParams)
	if err != nil {
		return err
	}
	return updatePasswordHash(ctx, s.db, userID, old, h, now())
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

var errLoginEnded = apperr.New(apperr.ErrUnauthenticated, "this login has ended: log in again")

// liveLogin returns the user of the login sessionID if that login is live.
// Every sensitive operation checks it, since an access token outlives its
// login's revocation by minutes. A revoked or expired login, or a user who
// no longer exists, is an apperr.ErrUnauthenticated error.
func (s *Service) liveLogin(ctx context.Context, q database.Querier, userID, sessionID string) (User, error) {
	live, err := sessionLive(ctx, q, sessionID, now())
	if err != nil {
		return User{}, err
	}
	if !live {
		return User{}, errLoginEnded
	}
	u, err := userByID(ctx, q, userID)
	if errors.Is(err, apperr.ErrNotFound) {
		return User{}, apperr.Wrap(err, apperr.ErrUnauthenticated, "this account no longer exists")
	}
	return u, err
}

// CheckLogin returns an error matching apperr.ErrUnauthenticated unless the
// account exists and, when sessionID is not empty (an access token's login),
// that login is live: for other services' operations that an access token
// alone, which outlives a logout or a deletion, must not allow.
func (s *Service) CheckLogin(ctx context.Context, userID, sessionID string) error {
	var err error
	if sessionID != "" {
		_, err = s.liveLogin(ctx, s.db, userID, sessionID)
	} else {
		_, err = s.User(ctx, userID)
	}
	return err
}

// Sessions returns up to limit live logins of the user, newest first, with
// IDs below before ("" for the first page). sessionID, the caller's login,
// must be live.
func (s *Service) Sessions(ctx context.Context, userID, sessionID, before string, limit int) ([]Session, error) {
	if _, err := s.liveLogin(ctx, s.db, userID, sessionID); err != nil {
		return nil, err
	}
	return listSessions(ctx, s.db, userID, before, limit, now())
}

// RevokeSession ends one of the user's logins (the caller's own included).
// sessionID, the caller's login, must be live; another user's login, or one
// already ended, is an apperr.ErrNotFound error.
func (s *Service) RevokeSession(ctx context.Context, userID, sessionID, target string) error {
	if _, err := s.liveLogin(ctx, s.db, userID, sessionID); err != nil {
		return err
	}
	if !id.Valid("ses", target) {
		return apperr.New(apperr.ErrNotFound, "no such login")
	}
	err := revokeSessionOf(ctx, s.db, userID, target, now())
	if errors.Is(err, apperr.ErrNotFound) {
		return apperr.Wrap(err, apperr.ErrNotFound, "no such login")
	}
	return err
}

// mailTx queues m in tx: it is sent if, and only if, tx commits.
func (s *Service) mailTx(ctx context.Context, tx *database.Tx, m mail.Message) error {
	return s.jobs.InsertTx(ctx, tx, mail.SendArgs{Message: m}, nil)
}
