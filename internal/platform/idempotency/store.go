package idempotency

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
)

// The states of a row.
const (
	inFlight = "in_flight"
	complete = "complete"
)

// claim is a request's hold on a key. token is new at every claim, and every
// write after the claim is conditional on it, so that of two claimants only
// one wins, and a request presumed dead that finishes after all writes
// nothing over its successor.
type claim struct {
	scope, key, token string
}

// response is what a key records and a replay answers.
type response struct {
	status      int
	contentType string
	location    string
	body        []byte
}

// row is an idempotency_keys row.
type row struct {
	fingerprint string
	state       string
	token       string
	claimedAt   time.Time
	createdAt   time.Time
	expiresAt   time.Time
	response
}

var (
	errMismatch = apperr.New(apperr.ErrUnprocessable,
		"this Idempotency-Key was already used with a different request (method, path or body)")
	errInProgress = &apperr.Error{Kind: apperr.ErrConflict,
		Message: "a request with this Idempotency-Key is still in progress; retry shortly", RetryAfter: time.Second}
)

// claim takes the key for a request with fingerprint fp, and returns the
// claim; or the response to replay; or an error for the client (422, 409).
func (s *Store) claim(ctx context.Context, scope, key, fp string) (claim, *response, error) {
	// Each turn that finds no way forward lost a race to a request that
	// changed the row meanwhile; the next looks again.
	for range 3 {
		now := s.now().UTC()
		c := claim{scope: scope, key: key, token: newToken()}
		res, err := s.db.Exec(ctx, `INSERT INTO idempotency_keys
			(scope, key, fingerprint, state, claim, claimed_at, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6, $7)
			ON CONFLICT (scope, key) DO NOTHING`,
			scope, key, fp, inFlight, c.token, now, now.Add(s.ttl))
		if ok, err := affected(res, err); err != nil || ok {
			return c, nil, wrap("claim key", err)
		}
		old, err := s.load(ctx, scope, key)
		if errors.Is(err, sql.ErrNoRows) {
			continue // forgotten meanwhile
		}
		if err != nil {
			return claim{}, nil, err
		}
		switch {
		case !now.Before(old.expiresAt):
			// Expired: as good as absent, whatever it held.
			ok, err := s.reclaim(ctx, c, old.token, fp, now, now, now.Add(s.ttl))
			if err != nil || ok {
				return c, nil, err
			}
		case old.fingerprint != fp:
			return claim{}, nil, errMismatch
		case old.state == complete:
			return claim{}, &old.response, nil
		case now.Sub(old.claimedAt) >= s.lease:
			// The request holding the key is presumed dead.
			ok, err := s.reclaim(ctx, c, old.token, fp, now, old.createdAt, old.expiresAt)
			if err != nil || ok {
				return c, nil, err
			}
		default:
			return claim{}, nil, errInProgress
		}
	}
	return claim{}, nil, errInProgress
}

// load reads the row of (scope, key); an error matching sql.ErrNoRows means
// there is none.
func (s *Store) load(ctx context.Context, scope, key string) (row, error) {
	var (
		r                     row
		status                sql.NullInt64
		contentType, location sql.NullString
	)
	err := s.db.QueryRow(ctx, `SELECT fingerprint, state, claim, claimed_at, created_at, expires_at,
			status, content_type, location, body
		FROM idempotency_keys WHERE scope = $1 AND key = $2`, scope, key).
		Scan(&r.fingerprint, &r.state, &r.token, &r.claimedAt, &r.createdAt, &r.expiresAt,
			&status, &contentType, &location, &r.body)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return row{}, err
		}
		return row{}, wrap("load key", err)
	}
	r.status = int(status.Int64)
	r.contentType, r.location = contentType.String, location.String
	return r, nil
}

// reclaim makes the row c's, in flight for a request with fingerprint fp,
// provided it still holds the claim oldToken that the caller saw. It reports
// whether it did.
func (s *Store) reclaim(ctx context.Context, c claim, oldToken, fp string, now, created, expires time.Time) (bool, error) {
	res, err := s.db.Exec(ctx, `UPDATE idempotency_keys
		SET fingerprint = $4, state = $5, claim = $6, claimed_at = $7, created_at = $8, expires_at = $9,
			status = NULL, content_type = NULL, location = NULL, body = NULL
		WHERE scope = $1 AND key = $2 AND claim = $3`,
		c.scope, c.key, oldToken, fp, inFlight, c.token, now, created, expires)
	ok, err := affected(res, err)
	return ok, wrap("reclaim key", err)
}

// complete records resp as the key's response. It reports false, storing
// nothing, when c no longer holds the key.
func (s *Store) complete(ctx context.Context, c claim, resp response) (bool, error) {
	res, err := s.db.Exec(ctx, `UPDATE idempotency_keys
		SET state = $4, status = $5, content_type = $6, location = $7, body = $8
		WHERE scope = $1 AND key = $2 AND claim = $3 AND state = $9`,
		c.scope, c.key, c.token, complete, resp.status, resp.contentType, resp.location, resp.body, inFlight)
	ok, err := affected(res, err)
	return ok, wrap("complete key", err)
}

// release forgets the key, if c still holds it.
func (s *Store) release(ctx context.Context, c claim) error {
	_, err := s.db.Exec(ctx, `DELETE FROM idempotency_keys
		WHERE scope = $1 AND key = $2 AND claim = $3 AND state = $4`,
		c.scope, c.key, c.token, inFlight)
	return wrap("release key", err)
}

// DeleteExpired deletes the keys whose TTL has passed, in batches, and
// returns how many it deleted, also when it fails part-way. Expired keys
// already count as absent; this only reclaims their space.
func (s *Store) DeleteExpired(ctx context.Context) (int64, error) {
	const batch = 1000
	now := s.now().UTC()
	var total int64
	for {
		res, err := s.db.Exec(ctx, `DELETE FROM idempotency_keys WHERE (scope, key) IN (
			SELECT scope, key FROM idempotency_keys WHERE expires_at <= $1 LIMIT $2)`, now, batch)
		if err != nil {
			return total, wrap("delete expired keys", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, wrap("delete expired keys", err)
		}
		total += n
		if n < batch {
			return total, nil
		}
	}
}

// affected reports whether a statement that should change one row did.
func affected(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("idempotency: %s: %w", what, err)
}

// newToken returns a random claim token.
func newToken() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails: crypto/rand crashes the program instead
	return hex.EncodeToString(b)
}
