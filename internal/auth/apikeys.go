package auth

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/id"
)

// maxAPIKeys caps a user's live keys: each is a standing credential to
// audit, and a leaked login must not be able to mint thousands.
const maxAPIKeys = 20

// CreateAPIKey mints a key named name with scope (authn.ScopeRead or
// authn.ScopeFull) for the user of the login sessionID, mails the owner
// about it, and returns the key with its secret, which is shown this once
// and never stored. The login must be live (an access token outlives its
// revocation by minutes, and a key outlives everything), else it is an
// apperr.ErrUnauthenticated error. A bad name or scope is an
// *apperr.ValidationError on "name" or "scope"; a user at maxAPIKeys an
// apperr.ErrConflict error.
func (s *Service) CreateAPIKey(ctx context.Context, userID, sessionID, name, scope string) (k APIKey, secret string, err error) {
	var v apperr.Validation
	name = strings.TrimSpace(name)
	checkName(&v, "name", name)
	if scope == "" {
		scope = authn.ScopeFull
	}
	v.Check(scope == authn.ScopeRead || scope == authn.ScopeFull, "scope", `must be "read" or "full"`)
	if err := v.Err(); err != nil {
		return APIKey{}, "", err
	}
	secret, secretHash := newToken(authn.APIKeyPrefix)
	k = APIKey{ID: id.New("key"), UserID: userID, Name: name, Prefix: secret[:len(authn.APIKeyPrefix)+6], Scope: scope, CreatedAt: now()}
	err = s.db.Transact(ctx, func(tx *database.Tx) error {
		// Locked first: concurrent creations cannot pass the cap together,
		// and a reset or logout racing this one is seen by liveLogin.
		if err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
		u, err := s.liveLogin(ctx, tx, userID, sessionID)
		if err != nil {
			return err
		}
		n, err := countAPIKeys(ctx, tx, userID)
		if err != nil {
			return err
		}
		if n >= maxAPIKeys {
			return apperr.Errorf(apperr.ErrConflict, "you have %d API keys, the most allowed: revoke one first", n)
		}
		if err := insertAPIKey(ctx, tx, k, secretHash); err != nil {
			return err
		}
		return s.mailTx(ctx, tx, keyCreatedMessage(u, k, s.publicURL))
	})
	if err != nil {
		return APIKey{}, "", err
	}
	return k, secret, nil
}

// APIKeys returns up to limit live keys of a user, newest first, with IDs
// below before ("" for the first page).
func (s *Service) APIKeys(ctx context.Context, userID, before string, limit int) ([]APIKey, error) {
	keys, err := listAPIKeys(ctx, s.db, userID, before, limit)
	if err == nil && len(keys) == 0 {
		// An access token outlives a deleted account by up to its lifetime;
		// its empty list must not look like an account's.
		_, err = s.User(ctx, userID)
	}
	return keys, err
}

// RevokeAPIKey revokes a key of the user's. Called for a login, sessionID
// must be live (else apperr.ErrUnauthenticated); for an API key (sessionID
// ""), the caller has checked that the key's scope allows it. Another
// user's key, a revoked one and a missing one are all the same
// apperr.ErrNotFound error.
func (s *Service) RevokeAPIKey(ctx context.Context, userID, sessionID, keyID string) error {
	if sessionID != "" {
		if _, err := s.liveLogin(ctx, s.db, userID, sessionID); err != nil {
			return err
		}
	}
	if !id.Valid("key", keyID) {
		return apperr.New(apperr.ErrNotFound, msgNoSuchKey)
	}
	err := revokeAPIKey(ctx, s.db, userID, keyID, now())
	if errors.Is(err, apperr.ErrNotFound) {
		return apperr.Wrap(err, apperr.ErrNotFound, msgNoSuchKey)
	}
	return err
}

// msgNoSuchKey answers for a key that is another user's, revoked or
// missing alike: which one it is would tell a guesser something.
const msgNoSuchKey = "no such API key"

// lastUsedGranularity bounds how often using a key writes to the database:
// at most once per key per interval, not once per request.
const lastUsedGranularity = time.Minute

// APIKeyLookup returns the function with which package authn authenticates
// API keys against this service's table: it returns an
// apperr.ErrUnauthenticated error for an unknown or revoked key.
func APIKeyLookup(db *database.DB) authn.APIKeyLookup {
	return func(ctx context.Context, secret string) (authn.Principal, error) {
		k, err := apiKeyBySecretHash(ctx, db, hashToken(secret))
		if errors.Is(err, apperr.ErrNotFound) {
			return authn.Principal{}, apperr.Wrap(err, apperr.ErrUnauthenticated, "unknown or revoked API key")
		}
		if err != nil {
			return authn.Principal{}, err
		}
		t := now()
		if k.LastUsedAt == nil || t.Sub(*k.LastUsedAt) >= lastUsedGranularity {
			// Bookkeeping: failing it is no reason to refuse the request.
			if err := touchAPIKey(ctx, db, k.ID, t); err != nil {
				httpx.Logger(ctx).Warn("api key last_used_at not recorded", slog.String("api_key_id", k.ID), slog.Any("err", err))
			}
		}
		return authn.Principal{UserID: k.UserID, APIKeyID: k.ID, Scope: k.Scope}, nil
	}
}
