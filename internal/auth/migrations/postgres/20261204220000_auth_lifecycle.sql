-- +goose Up
-- The scope of an API key: 'read' (safe methods only) or 'full'.
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'full';

-- Consecutive failed logins of the account, for the growing delay and the
-- lock at 100 (NIST SP 800-63B); reset by a successful login or a reset.
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_failed_login_at TIMESTAMPTZ;
-- Unverified accounts are purged once their newest link has expired.
CREATE INDEX users_unverified ON users (updated_at) WHERE email_verified_at IS NULL;

-- +goose Down
DROP INDEX users_unverified;
ALTER TABLE users DROP COLUMN last_failed_login_at;
ALTER TABLE users DROP COLUMN failed_logins;
ALTER TABLE api_keys DROP COLUMN scope;
