package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/database"
)

// User is an account.
type User struct {
	ID              string
	Email           string
	Name            string
	PasswordHash    string
	EmailVerifiedAt *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
	// FailedLogins counts consecutive failed logins, LastFailedLoginAt the
	// newest; a successful login or a reset clears them.
	FailedLogins      int
	LastFailedLoginAt *time.Time
}

const userColumns = `id, email, name, password_hash, email_verified_at, created_at, updated_at, failed_logins, last_failed_login_at`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var verified, failed sql.NullTime
	if err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &verified, &u.CreatedAt, &u.UpdatedAt, &u.FailedLogins, &failed); err != nil {
		return User{}, err
	}
	if verified.Valid {
		u.EmailVerifiedAt = &verified.Time
	}
	if failed.Valid {
		u.LastFailedLoginAt = &failed.Time
	}
	return u, nil
}

// userByEmail returns apperr.ErrNotFound if no account has email.
func userByEmail(ctx context.Context, q database.Querier, email string) (User, error) {
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", email, apperr.ErrNotFound)
	}
	return u, err
}

// userByID returns apperr.ErrNotFound if there is no such account.
func userByID(ctx context.Context, q database.Querier, id string) (User, error) {
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", id, apperr.ErrNotFound)
	}
	return u, err
}

// insertUser returns an error for which database.IsUniqueViolation is true if
// the email is taken.
func insertUser(ctx context.Context, q database.Querier, u User) error {
	_, err := q.Exec(ctx, `INSERT INTO users (id, email, name, password_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5)`, u.ID, u.Email, u.Name, u.PasswordHash, u.CreatedAt)
	return err
}

// replacePending replaces the password and name of an account whose email
// is not verified yet, and returns its ID, or apperr.ErrNotFound if the
// address has no such account (none, or a verified one).
func replacePending(ctx context.Context, q database.Querier, email, name, hash string, now time.Time) (string, error) {
	var id string
	err := q.QueryRow(ctx, `UPDATE users SET name = $2, password_hash = $3, updated_at = $4
		WHERE email = $1 AND email_verified_at IS NULL RETURNING id`, email, name, hash, now).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("pending account %s: %w", email, apperr.ErrNotFound)
	}
	return id, err
}

// recordFailedLogin counts one more consecutive failure and returns the
// count.
func recordFailedLogin(ctx context.Context, q database.Querier, id string, now time.Time) (int, error) {
	var n int
	err := q.QueryRow(ctx, `UPDATE users SET failed_logins = failed_logins + 1, last_failed_login_at = $2
		WHERE id = $1 RETURNING failed_logins`, id, now).Scan(&n)
	return n, err
}

// clearFailedLogins starts the count of consecutive failures over.
func clearFailedLogins(ctx context.Context, q database.Querier, id string) error {
	_, err := q.Exec(ctx, `UPDATE users SET failed_logins = 0, last_failed_login_at = NULL WHERE id = $1 AND failed_logins > 0`, id)
	return err
}

// deleteUser deletes an account and, by cascade, its sessions, tokens and
// keys.
func deleteUser(ctx context.Context, q database.Querier, id string) error {
	_, err := q.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	return err
}

func updateName(ctx context.Context, q database.Querier, id, name string, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE users SET name = $2, updated_at = $3 WHERE id = $1`, id, name, now)
	return err
}

// updatePasswordHash replaces old, a hash of a password, by hash, a new one
// of the same password (a rehash). It changes nothing if the stored hash is
// no longer old: a password changed meanwhile must not be put back.
func updatePasswordHash(ctx context.Context, q database.Querier, id, old, hash string, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE users SET password_hash = $3, updated_at = $4 WHERE id = $1 AND password_hash = $2`, id, old, hash, now)
	return err
}

// setPasswordHash stores the hash of a new password, and starts the count of
// failed logins over.
func setPasswordHash(ctx context.Context, q database.Querier, id, hash string, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE users SET password_hash = $2, updated_at = $3,
		failed_logins = 0, last_failed_login_at = NULL WHERE id = $1`, id, hash, now)
	return err
}

// markEmailVerified keeps the first verification time.
func markEmailVerified(ctx context.Context, q database.Querier, id string, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE users SET email_verified_at = $2, updated_at = $2
		WHERE id = $1 AND email_verified_at IS NULL`, id, now)
	return err
}

// Email token purposes, as stored.
const (
	purposeVerify = "verify_email"
	purposeReset  = "reset_password"
)

func insertEmailToken(ctx context.Context, q database.Querier, hash, purpose, userID string, expires, now time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO email_tokens (token_hash, purpose, user_id, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5)`, hash, purpose, userID, expires, now)
	return err
}

// emailTokenUser returns the user a live (unused, unexpired) token of purpose
// belongs to, without using it up, or apperr.ErrNotFound.
func emailTokenUser(ctx context.Context, q database.Querier, hash, purpose string, now time.Time) (User, error) {
	u, err := scanUser(q.QueryRow(ctx, `SELECT u.id, u.email, u.name, u.password_hash, u.email_verified_at, u.created_at, u.updated_at,
		u.failed_logins, u.last_failed_login_at
		FROM email_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = $1 AND t.purpose = $2 AND t.used_at IS NULL AND t.expires_at > $3`, hash, purpose, now))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("email token: %w", apperr.ErrNotFound)
	}
	return u, err
}

// useEmailToken marks a live token used and returns its user's ID, or
// apperr.ErrNotFound if it is unknown, used or expired. The conditional
// update makes a token single-use even under concurrent requests.
func useEmailToken(ctx context.Context, q database.Querier, hash, purpose string, now time.Time) (string, error) {
	var userID string
	err := q.QueryRow(ctx, `UPDATE email_tokens SET used_at = $3
		WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
		RETURNING user_id`, hash, purpose, now).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("email token: %w", apperr.ErrNotFound)
	}
	return userID, err
}

// useEmailTokensOf retires every live token of purpose for a user, so that
// after a password change an older reset link no longer works.
func useEmailTokensOf(ctx context.Context, q database.Querier, userID, purpose string, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE email_tokens SET used_at = $3
		WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL`, userID, purpose, now)
	return err
}

func insertRefreshToken(ctx context.Context, q database.Querier, hash, familyID, userID string, expires, now time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5)`, hash, familyID, userID, expires, now)
	return err
}

// insertSession records a new login, expiring with its first refresh token.
func insertSession(ctx context.Context, q database.Querier, id, userID string, expires, now time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO sessions (id, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4)`,
		id, userID, expires, now)
	return err
}

// errTokenReused means a refresh token that was already rotated came back:
// it was stolen, or the client is broken, and its session is revoked.
var errTokenReused = errors.New("refresh token reused")

// rotateRefreshToken uses up a refresh token inside tx and returns its
// session and user; the caller then inserts the session's next token. It
// locks the session row first (a conditional UPDATE, which on PostgreSQL
// waits for and then re-checks a concurrent revocation), so a revocation
// and a refresh of one session never interleave. A token already used
// returns errTokenReused, and its session is revoked in tx, which the caller
// must commit; an unknown or expired token, or a revoked session, returns
// apperr.ErrNotFound.
func rotateRefreshToken(ctx context.Context, tx *database.Tx, hash string, nextExpires, now time.Time) (sessionID, userID string, err error) {
	var expires time.Time
	err = tx.QueryRow(ctx, `SELECT family_id, user_id, expires_at FROM refresh_tokens WHERE token_hash = $1`, hash).
		Scan(&sessionID, &userID, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("refresh token: %w", apperr.ErrNotFound)
	}
	if err != nil {
		return "", "", err
	}
	err = tx.QueryRow(ctx, `UPDATE sessions SET expires_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id`,
		sessionID, nextExpires).Scan(&sessionID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("session revoked: %w", apperr.ErrNotFound)
	}
	if err != nil {
		return "", "", err
	}
	if !expires.After(now) {
		return "", "", fmt.Errorf("refresh token expired: %w", apperr.ErrNotFound)
	}
	// Conditional, and after the session lock: of two refreshes racing with
	// one token, the second finds it used.
	res, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL`, hash, now)
	if err != nil {
		return "", "", err
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", "", err
	} else if n == 0 {
		if err := revokeSession(ctx, tx, sessionID, now); err != nil {
			return "", "", err
		}
		return sessionID, userID, errTokenReused
	}
	return sessionID, userID, nil
}

// Session is one login.
type Session struct {
	ID        string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// sessionLive reports whether a login is neither revoked nor expired.
func sessionLive(ctx context.Context, q database.Querier, id string, now time.Time) (bool, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT COUNT(*) FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2`, id, now).Scan(&n)
	return n == 1, err
}

// listSessions returns up to limit live logins of a user, newest first,
// with IDs below before ("" for the first page).
func listSessions(ctx context.Context, q database.Querier, userID, before string, limit int, now time.Time) ([]Session, error) {
	rows, err := q.Query(ctx, `SELECT id, created_at, expires_at FROM sessions
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND ($3 = '' OR id < $3)
		ORDER BY id DESC LIMIT $4`, userID, now, before, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var s Session
		if err := rows.Scan(&s.ID, &s.CreatedAt, &s.ExpiresAt); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// revokeSessionOf ends a live login of userID, or returns apperr.ErrNotFound.
func revokeSessionOf(ctx context.Context, q database.Querier, userID, id string, now time.Time) error {
	res, err := q.Exec(ctx, `UPDATE sessions SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, id, userID, now)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("session %s: %w", id, apperr.ErrNotFound)
	}
	return nil
}

// revokeAllKeys revokes every live key of a user, for a password reset: a
// reset means someone else may hold the account, and whoever held it could
// have made a key from any login, then changed the password or logged out
// to hide it. It returns how many it revoked.
func revokeAllKeys(ctx context.Context, q database.Querier, userID string, now time.Time) (int64, error) {
	res, err := q.Exec(ctx, `UPDATE api_keys SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, userID, now)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// revokeSession ends one login: none of its refresh tokens works again.
func revokeSession(ctx context.Context, q database.Querier, id string, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, id, now)
	return err
}

// revokeOtherSessions ends every login of a user but keep (which may be "").
func revokeOtherSessions(ctx context.Context, q database.Querier, userID, keep string, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE sessions SET revoked_at = $3
		WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL`, userID, keep, now)
	return err
}

// APIKey is a machine credential. Its secret is never stored.
type APIKey struct {
	ID     string
	UserID string
	Name   string
	Prefix string
	// Scope is authn.ScopeRead or authn.ScopeFull.
	Scope      string
	LastUsedAt *time.Time
	CreatedAt  time.Time
}

const apiKeyColumns = `id, user_id, name, prefix, scope, last_used_at, created_at`

func scanAPIKey(row interface{ Scan(...any) error }) (APIKey, error) {
	var k APIKey
	var lastUsed sql.NullTime
	if err := row.Scan(&k.ID, &k.UserID, &k.Name, &k.Prefix, &k.Scope, &lastUsed, &k.CreatedAt); err != nil {
		return APIKey{}, err
	}
	if lastUsed.Valid {
		k.LastUsedAt = &lastUsed.Time
	}
	return k, nil
}

func insertAPIKey(ctx context.Context, q database.Querier, k APIKey, secretHash string) error {
	_, err := q.Exec(ctx, `INSERT INTO api_keys (id, user_id, name, prefix, scope, secret_hash, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, k.ID, k.UserID, k.Name, k.Prefix, k.Scope, secretHash, k.CreatedAt)
	return err
}

// lockUser locks the user's row until tx ends (a no-op UPDATE: portable,
// and on PostgreSQL it waits for a concurrent holder), so that checks made
// under it, such as a count against a cap, hold until commit.
func lockUser(ctx context.Context, tx *database.Tx, id string) error {
	_, err := tx.Exec(ctx, `UPDATE users SET updated_at = updated_at WHERE id = $1`, id)
	return err
}

// countAPIKeys counts a user's live keys.
func countAPIKeys(ctx context.Context, q database.Querier, userID string) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT COUNT(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL`, userID).Scan(&n)
	return n, err
}

// listAPIKeys returns up to limit live keys of a user, newest first, with IDs
// below before ("" for the first page).
func listAPIKeys(ctx context.Context, q database.Querier, userID, before string, limit int) ([]APIKey, error) {
	rows, err := q.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE user_id = $1 AND revoked_at IS NULL AND ($2 = '' OR id < $2)
		ORDER BY id DESC LIMIT $3`, userID, before, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// revokeAPIKey returns apperr.ErrNotFound unless userID has a live key id.
func revokeAPIKey(ctx context.Context, q database.Querier, userID, id string, now time.Time) error {
	res, err := q.Exec(ctx, `UPDATE api_keys SET revoked_at = $3
		WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`, id, userID, now)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("api key %s: %w", id, apperr.ErrNotFound)
	}
	return nil
}

// deleteExpired deletes, in batches of batch rows, the refresh tokens,
// sessions and email tokens that can no longer be used, and returns how many
// rows it deleted.
func deleteExpired(ctx context.Context, db *database.DB, now time.Time, batch int) (int64, error) {
	var total int64
	for _, d := range []struct {
		stmt string
		args []any
	}{
		{`DELETE FROM refresh_tokens WHERE token_hash IN (
			SELECT token_hash FROM refresh_tokens WHERE expires_at < $1 LIMIT $2)`, []any{now, batch}},
		{`DELETE FROM sessions WHERE id IN (
			SELECT id FROM sessions WHERE expires_at < $1 LIMIT $2)`, []any{now, batch}},
		// Used tokens go a day after use: a single-use token needs its row
		// only until it expires, and none lives longer than 48 hours.
		{`DELETE FROM email_tokens WHERE token_hash IN (
			SELECT token_hash FROM email_tokens WHERE expires_at < $1 OR used_at < $3 LIMIT $2)`, []any{now, batch, now.Add(-24 * time.Hour)}},
		// An account nobody verified before its newest link expired: a
		// squatter's, or a typo's. The address is free again.
		{`DELETE FROM users WHERE id IN (
			SELECT id FROM users WHERE email_verified_at IS NULL AND updated_at < $1 LIMIT $2)`, []any{now.Add(-verifyTokenTTL), batch}},
	} {
		for {
			res, err := db.Exec(ctx, d.stmt, d.args...)
			if err != nil {
				return total, err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return total, err
			}
			total += n
			if n < int64(batch) {
				break
			}
		}
	}
	return total, nil
}

// apiKeyBySecretHash returns the live key with that secret hash, or
// apperr.ErrNotFound.
func apiKeyBySecretHash(ctx context.Context, q database.Querier, hash string) (APIKey, error) {
	k, err := scanAPIKey(q.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE secret_hash = $1 AND revoked_at IS NULL`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return APIKey{}, fmt.Errorf("api key: %w", apperr.ErrNotFound)
	}
	return k, err
}

func touchAPIKey(ctx context.Context, q database.Querier, id string, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE api_keys SET last_used_at = $2 WHERE id = $1`, id, now)
	return err
}
