-- +goose Up
-- One row per Idempotency-Key a client has sent, per scope (the user). A row
-- is 'in_flight' while its request runs, then 'complete' holding the response
-- to replay; a failed request deletes its row. claim changes at every claim
-- (first use, takeover after the lease, reuse after expiry), and every later
-- write is conditional on the claim its writer saw, so of two racing
-- claimants one wins and a request that lost its claim writes nothing.
CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,        -- SHA-256 of method, path and body, hex
    state        TEXT NOT NULL CHECK (state IN ('in_flight', 'complete')),
    claim        TEXT NOT NULL,
    claimed_at   TIMESTAMP NOT NULL,
    status       INTEGER,              -- the stored response, once complete
    content_type TEXT,
    location     TEXT,
    body         BLOB,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);

-- +goose Down
DROP TABLE idempotency_keys;
