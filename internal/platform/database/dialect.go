package database

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The few differences between the dialects that service code must know
// about live here.

// IsUniqueViolation reports whether err is a unique-constraint violation, on
// either dialect: the way to notice that a concurrent insert won a race.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		return liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// Lock holds a lock on key until tx ends, so that transactions that check
// then write for the same key (a count against a limit, say) run one at a
// time. On PostgreSQL it is a transaction-level advisory lock on the key's
// hash; SQLite's write transactions already run one at a time (they begin
// IMMEDIATE), so there it does nothing.
func (tx *Tx) Lock(ctx context.Context, key string) error {
	if tx.db.dialect != Postgres {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, key)
	return err
}
