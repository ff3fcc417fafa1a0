-- +goose Up
-- The scope of an API key ('read': safe methods only; 'full') and the login
-- that created it, so that a password reset can revoke what that login made.
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'full';
ALTER TABLE api_keys ADD COLUMN session_id TEXT;
CREATE INDEX api_keys_session ON api_keys (session_id);

-- Consecutive failed logins of the account, for the growing delay and the
-- lock at 100 (NIST SP 800-63B); reset by a successful login or a reset.
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_failed_login_at TIMESTAMPTZ;
-- When the password was last set: keys made after it are suspect on a reset.
ALTER TABLE users ADD COLUMN password_changed_at TIMESTAMPTZ;
-- Unverified accounts are purged once their newest link has expired.
CREATE INDEX users_unverified ON users (updated_at) WHERE email_verified_at IS NULL;

-- +goose Down
DROP INDEX users_unverified;
ALTER TABLE users DROP COLUMN password_changed_at;
ALTER TABLE users DROP COLUMN last_failed_login_at;
ALTER TABLE users DROP COLUMN failed_logins;
DROP INDEX api_keys_session;
ALTER TABLE api_keys DROP COLUMN session_id;
ALTER TABLE api_keys DROP COLUMN scope;
