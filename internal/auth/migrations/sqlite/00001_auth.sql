-- +goose Up
CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL UNIQUE, -- normalized: trimmed, lower-case
    name              TEXT NOT NULL,
    password_hash     TEXT NOT NULL,        -- argon2id, PHC string format
    email_verified_at TIMESTAMP,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);

-- A session is one login: the family of refresh tokens it rotates through.
-- Revoking it (logout, password change, reuse of a rotated token) ends them
-- all. Refresh locks the session row, so a revocation and a refresh of the
-- same session never interleave.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMP NOT NULL,          -- its newest refresh token's expiry
    revoked_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- One row per refresh token. A rotated token has used_at set; presenting it
-- again revokes its session. Rows stay until they expire, so reuse is caught.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,            -- SHA-256 of the token
    family_id  TEXT NOT NULL,               -- the session's id
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- Single-use tokens sent by email: verify an address, reset a password.
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY,            -- SHA-256 of the token
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX email_tokens_user ON email_tokens (user_id);
CREATE INDEX email_tokens_expires ON email_tokens (expires_at);
CREATE INDEX email_tokens_used ON email_tokens (used_at);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,             -- the first characters, shown to tell keys apart
    secret_hash  TEXT NOT NULL UNIQUE,      -- SHA-256 of the whole key
    last_used_at TIMESTAMP,
    revoked_at   TIMESTAMP,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX api_keys_user ON api_keys (user_id, id);

-- +goose Down
DROP TABLE api_keys;
DROP TABLE email_tokens;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE users;
