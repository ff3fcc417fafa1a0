package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/id"
	mailer "github.com/rightsize/rightsize/internal/platform/mail"
	"github.com/rightsize/rightsize/internal/platform/ratelimit"
)

// limitByIP applies the per-client-IP limit of the credential endpoints.
func (s *Service) limitByIP(h http.Handler) http.Handler {
	return s.ipLimit.Middleware(ratelimit.ByIP(s.proxies))(h)
}

// normalizeEmail trims and lower-cases an address, and checks that it is a
// bare address (no display name) of sane length.
func normalizeEmail(v *apperr.Validation, field, raw string) string {
	email := strings.ToLower(strings.TrimSpace(raw))
	addr, err := mail.ParseAddress(email)
	switch {
	case email == "":
		v.Add(field, "is required")
	case len(email) > 254 || err != nil || addr.Address != email:
		v.Add(field, "must be an email address such as ada@example.com")
	}
	return email
}

func checkName(v *apperr.Validation, name string) {
	n := utf8.RuneCountInString(name)
	v.Check(n >= 1 && n <= 100, "name", "must be 1 to 100 characters")
}

type userResponse struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	Name          string    `json:"name"`
	EmailVerified bool      `json:"email_verified"`
	CreatedAt     time.Time `json:"created_at"`
}

func toUserResponse(u User) userResponse {
	return userResponse{ID: u.ID, Email: u.Email, Name: u.Name, EmailVerified: u.EmailVerifiedAt != nil, CreatedAt: u.CreatedAt}
}

type accepted struct {
	Status string `json:"status"`
	Detail string `json:"detail"`
}

type signupRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

func (r *signupRequest) Validate() error {
	var v apperr.Validation
	r.Email = normalizeEmail(&v, "email", r.Email)
	r.Name = strings.TrimSpace(r.Name)
	checkName(&v, r.Name)
	if err := CheckPassword(r.Password, r.Email); err != nil {
		var ve *apperr.ValidationError
		if !errors.As(err, &ve) {
			return err
		}
		for _, f := range ve.Fields {
			v.Add(f.Field, f.Message)
		}
	}
	return v.Err()
}

// signup creates an unverified account and mails a verification link. If the
// email already has an account it mails its owner instead; both answer 202
// alike, after the same password hashing, so the response does not tell
// whether an address has an account.
func (s *Service) signup() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		in, err := httpx.Decode[signupRequest](r)
		if err != nil {
			return err
		}
		if err := s.acctLimit.Check("signup:" + in.Email); err != nil {
			return err
		}
		hash, err := HashPassword(in.Password, DefaultPasswordParams)
		if err != nil {
			return err
		}
		now := s.now()
		u := User{ID: id.New("usr"), Email: in.Email, Name: in.Name, PasswordHash: hash, CreatedAt: now}
		err = s.db.Transact(ctx, func(tx *database.Tx) error {
			if err := s.jobs.InsertTx(ctx, tx, SendVerificationArgs{UserID: u.ID}, nil); err != nil {
				return err
			}
			// After the job: if this fails, the job goes with it.
			err := insertUser(ctx, tx, u)
			if database.IsUniqueViolation(err) {
				return errEmailTaken
			}
			return err
		})
		if errors.Is(err, errEmailTaken) {
			// A new transaction: on PostgreSQL the failed insert aborted the first.
			err = s.db.Transact(ctx, func(tx *database.Tx) error {
				return s.jobs.InsertTx(ctx, tx, mailer.SendArgs{Message: existingAccountMessage(in.Email, s.publicURL)}, nil)
			})
		}
		if err != nil {
			return err
		}
		httpx.Encode(w, http.StatusAccepted, accepted{
			Status: "pending_verification",
			Detail: "We sent an email to " + in.Email + ". Follow its link to verify the address, then log in.",
		})
		return nil
	})
}

var errEmailTaken = errors.New("email taken")

type tokenRequest struct {
	Token string `json:"token"`
}

func (r *tokenRequest) Validate() error {
	var v apperr.Validation
	checkToken(&v, "token", r.Token)
	return v.Err()
}

func (s *Service) verifyEmail() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		in, err := httpx.Decode[tokenRequest](r)
		if err != nil {
			return err
		}
		now := s.now()
		err = s.db.Transact(ctx, func(tx *database.Tx) error {
			userID, err := useEmailToken(ctx, tx, hashToken(in.Token), purposeVerify, now)
			if err != nil {
				return err
			}
			return markEmailVerified(ctx, tx, userID, now)
		})
		if errors.Is(err, apperr.ErrNotFound) {
			err = invalidToken()
		}
		if err != nil {
			return err
		}
		httpx.Encode(w, http.StatusOK, accepted{Status: "verified", Detail: "Your email address is verified. You can log in."})
		return nil
	})
}

func invalidToken() error {
	var v apperr.Validation
	v.Add("token", "is invalid, expired or already used")
	return v.Err()
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (r *loginRequest) Validate() error {
	var v apperr.Validation
	r.Email = normalizeEmail(&v, "email", r.Email)
	v.Check(r.Password != "", "password", "is required")
	v.Check(utf8.RuneCountInString(r.Password) <= maxPasswordRunes, "password", "is too long")
	return v.Err()
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"` // seconds
	RefreshToken string `json:"refresh_token"`
}

var errBadLogin = fmt.Errorf("invalid email or password: %w", apperr.ErrUnauthenticated)

// login answers the same 401, after the same hashing work, for an unknown
// email and for a wrong password.
func (s *Service) login() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		in, err := httpx.Decode[loginRequest](r)
		if err != nil {
			return err
		}
		if err := s.acctLimit.Check("login:" + in.Email); err != nil {
			return err
		}
		u, err := userByEmail(ctx, s.db, in.Email)
		if errors.Is(err, apperr.ErrNotFound) {
			DummyVerify(in.Password)
			return errBadLogin
		}
		if err != nil {
			return err
		}
		ok, rehash, err := VerifyPassword(in.Password, u.PasswordHash)
		if err != nil {
			return err
		}
		if !ok {
			return errBadLogin
		}
		if u.EmailVerifiedAt == nil {
			return fmt.Errorf("verify your email address before logging in: %w", apperr.ErrForbidden)
		}
		if rehash {
			// Parameters were raised since this hash was made: upgrade it
			// now, while the password is at hand. Failing here is no reason
			// to refuse the login.
			if h, err := HashPassword(in.Password, DefaultPasswordParams); err == nil {
				if err := updatePasswordHash(ctx, s.db, u.ID, h, s.now()); err != nil {
					httpx.Logger(ctx).Warn("password rehash failed", "err", err)
				}
			}
		}
		res, err := s.startSession(ctx, u.ID)
		if err != nil {
			return err
		}
		httpx.Encode(w, http.StatusOK, res)
		return nil
	})
}

// startSession begins a new login (session) for a user, with its first
// refresh token.
func (s *Service) startSession(ctx context.Context, userID string) (tokenResponse, error) {
	sessionID := id.New("ses")
	refresh, hash := newToken("")
	now := s.now()
	expires := now.Add(s.refreshTTL)
	err := s.db.Transact(ctx, func(tx *database.Tx) error {
		if err := insertSession(ctx, tx, sessionID, userID, expires, now); err != nil {
			return err
		}
		return insertRefreshToken(ctx, tx, hash, sessionID, userID, expires, now)
	})
	if err != nil {
		return tokenResponse{}, err
	}
	return s.tokens(userID, sessionID, refresh, now)
}

func (s *Service) tokens(userID, familyID, refresh string, now time.Time) (tokenResponse, error) {
	access, _, err := s.keys.Issue(userID, familyID, s.accessTTL, now)
	if err != nil {
		return tokenResponse{}, err
	}
	return tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int(s.accessTTL / time.Second), RefreshToken: refresh}, nil
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (r *refreshRequest) Validate() error {
	var v apperr.Validation
	checkToken(&v, "refresh_token", r.RefreshToken)
	return v.Err()
}

// checkToken checks the shape of a token from a client: ours are 43
// characters, so anything long is not one.
func checkToken(v *apperr.Validation, field, token string) {
	switch {
	case token == "":
		v.Add(field, "is required")
	case len(token) > 200:
		v.Add(field, "is not a valid token")
	}
}

// refresh trades a refresh token for a new access token and a new refresh
// token. The old one is used up; presenting it again revokes its session,
// the thief's tokens and the owner's alike.
func (s *Service) refresh() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		in, err := httpx.Decode[refreshRequest](r)
		if err != nil {
			return err
		}
		now := s.now()
		next, nextHash := newToken("")
		var sessionID, userID string
		reused := false
		err = s.db.Transact(ctx, func(tx *database.Tx) error {
			var err error
			sessionID, userID, err = rotateRefreshToken(ctx, tx, hashToken(in.RefreshToken), now.Add(s.refreshTTL), now)
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
			return insertRefreshToken(ctx, tx, nextHash, sessionID, userID, now.Add(s.refreshTTL), now)
		})
		switch {
		case err == nil && reused:
			httpx.Logger(ctx).Warn("refresh token reused; session revoked", "session_id", sessionID)
			err = fmt.Errorf("refresh token already used; its login is revoked: %w", apperr.ErrUnauthenticated)
		case errors.Is(err, apperr.ErrNotFound):
			err = fmt.Errorf("refresh token invalid, expired or revoked: %w", apperr.ErrUnauthenticated)
		}
		if err != nil {
			return err
		}
		res, err := s.tokens(userID, sessionID, next, now)
		if err != nil {
			return err
		}
		httpx.Encode(w, http.StatusOK, res)
		return nil
	})
}

// principal returns the caller, who the authn middleware has already
// authenticated on every route of this service outside Public.
func principal(ctx context.Context) (authn.Principal, error) {
	p, ok := authn.PrincipalFrom(ctx)
	if !ok {
		return authn.Principal{}, apperr.ErrUnauthenticated
	}
	return p, nil
}

// sessionPrincipal is for the routes that act on a login, which an API key
// is not.
func sessionPrincipal(ctx context.Context) (authn.Principal, error) {
	p, err := principal(ctx)
	if err == nil && p.SessionID == "" {
		err = fmt.Errorf("this needs an access token from a login, not an API key: %w", apperr.ErrForbidden)
	}
	return p, err
}

// logout revokes the session of the access token's login.
// Access tokens already issued stay valid until they expire (minutes).
func (s *Service) logout() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, err := sessionPrincipal(r.Context())
		if err == nil {
			err = revokeSession(r.Context(), s.db, p.SessionID, s.now())
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (s *Service) me() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, err := principal(r.Context())
		var u User
		if err == nil {
			u, err = userByID(r.Context(), s.db, p.UserID)
		}
		if err != nil {
			return err
		}
		httpx.Encode(w, http.StatusOK, toUserResponse(u))
		return nil
	})
}

// updateMeRequest has a pointer per field: nil means "leave unchanged".
type updateMeRequest struct {
	Name *string `json:"name"`
}

func (r *updateMeRequest) Validate() error {
	var v apperr.Validation
	if r.Name != nil {
		*r.Name = strings.TrimSpace(*r.Name)
		checkName(&v, *r.Name)
	}
	return v.Err()
}

func (s *Service) updateMe() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		p, err := principal(ctx)
		if err != nil {
			return err
		}
		in, err := httpx.Decode[updateMeRequest](r)
		if err != nil {
			return err
		}
		var u User
		err = s.db.Transact(ctx, func(tx *database.Tx) error {
			if in.Name != nil {
				if err := updateName(ctx, tx, p.UserID, *in.Name, s.now()); err != nil {
					return err
				}
			}
			u, err = userByID(ctx, tx, p.UserID)
			return err
		})
		if err != nil {
			return err
		}
		httpx.Encode(w, http.StatusOK, toUserResponse(u))
		return nil
	})
}

type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

func (r *changePasswordRequest) Validate() error {
	var v apperr.Validation
	v.Check(r.CurrentPassword != "", "current_password", "is required")
	v.Check(utf8.RuneCountInString(r.CurrentPassword) <= maxPasswordRunes, "current_password", "is too long")
	v.Check(r.NewPassword != "", "new_password", "is required")
	return v.Err()
}

// changePassword needs the current password, and signs out every other
// login of the user.
func (s *Service) changePassword() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		p, err := sessionPrincipal(ctx)
		if err != nil {
			return err
		}
		in, err := httpx.Decode[changePasswordRequest](r)
		if err != nil {
			return err
		}
		if err := s.acctLimit.Check("password:" + p.UserID); err != nil {
			return err
		}
		u, err := userByID(ctx, s.db, p.UserID)
		if err != nil {
			return err
		}
		ok, _, err := VerifyPassword(in.CurrentPassword, u.PasswordHash)
		if err != nil {
			return err
		}
		if !ok {
			var v apperr.Validation
			v.Add("current_password", "is not your current password")
			return v.Err()
		}
		if err := renamePasswordField(CheckPassword(in.NewPassword, u.Email), "new_password"); err != nil {
			return err
		}
		if err := s.setPassword(ctx, u.ID, in.NewPassword, p.SessionID); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// setPassword hashes pw (outside any transaction: it takes tens of
// milliseconds), stores it, retires outstanding reset links and revokes every
// login but keepSession.
func (s *Service) setPassword(ctx context.Context, userID, pw, keepSession string) error {
	hash, err := HashPassword(pw, DefaultPasswordParams)
	if err != nil {
		return err
	}
	now := s.now()
	return s.db.Transact(ctx, func(tx *database.Tx) error {
		if err := updatePasswordHash(ctx, tx, userID, hash, now); err != nil {
			return err
		}
		if err := useEmailTokensOf(ctx, tx, userID, purposeReset, now); err != nil {
			return err
		}
		return revokeOtherSessions(ctx, tx, userID, keepSession, now)
	})
}

// renamePasswordField reports CheckPassword's "password" errors under the
// request's own field name.
func renamePasswordField(err error, field string) error {
	var ve *apperr.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var v apperr.Validation
	for _, f := range ve.Fields {
		v.Add(field, f.Message)
	}
	return v.Err()
}

type resetRequest struct {
	Email string `json:"email"`
}

func (r *resetRequest) Validate() error {
	var v apperr.Validation
	r.Email = normalizeEmail(&v, "email", r.Email)
	return v.Err()
}

// requestPasswordReset only queues a job, for any well-formed address: the
// answer and its timing are the same whether or not the account exists.
func (s *Service) requestPasswordReset() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		in, err := httpx.Decode[resetRequest](r)
		if err != nil {
			return err
		}
		if err := s.acctLimit.Check("reset:" + in.Email); err != nil {
			return err
		}
		err = s.db.Transact(ctx, func(tx *database.Tx) error {
			return s.jobs.InsertTx(ctx, tx, PasswordResetArgs{Email: in.Email}, nil)
		})
		if err != nil {
			return err
		}
		httpx.Encode(w, http.StatusAccepted, accepted{
			Status: "reset_requested",
			Detail: "If " + in.Email + " has an account, we sent it a link to reset the password.",
		})
		return nil
	})
}

type confirmResetRequest struct {
	Token       string `json:"token"`
	NewPassword string `json:"new_password"`
}

func (r *confirmResetRequest) Validate() error {
	var v apperr.Validation
	checkToken(&v, "token", r.Token)
	v.Check(r.NewPassword != "", "new_password", "is required")
	return v.Err()
}

// confirmPasswordReset sets a new password with a reset link's token, marks
// the email verified (the link proved it), and signs out every login.
func (s *Service) confirmPasswordReset() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		in, err := httpx.Decode[confirmResetRequest](r)
		if err != nil {
			return err
		}
		hash := hashToken(in.Token)
		u, err := emailTokenUser(ctx, s.db, hash, purposeReset, s.now())
		if errors.Is(err, apperr.ErrNotFound) {
			err = invalidToken()
		}
		if err == nil {
			err = renamePasswordField(CheckPassword(in.NewPassword, u.Email), "new_password")
		}
		if err != nil {
			return err
		}
		// The token is used up in the same transaction that changes the
		// password, so two requests racing with one link change it once.
		newHash, err := HashPassword(in.NewPassword, DefaultPasswordParams)
		if err != nil {
			return err
		}
		now := s.now()
		err = s.db.Transact(ctx, func(tx *database.Tx) error {
			if _, err := useEmailToken(ctx, tx, hash, purposeReset, now); err != nil {
				return err
			}
			if err := updatePasswordHash(ctx, tx, u.ID, newHash, now); err != nil {
				return err
			}
			// As setPassword does: a second link from an older mail must
			// not undo this reset.
			if err := useEmailTokensOf(ctx, tx, u.ID, purposeReset, now); err != nil {
				return err
			}
			if err := markEmailVerified(ctx, tx, u.ID, now); err != nil {
				return err
			}
			return revokeOtherSessions(ctx, tx, u.ID, "", now)
		})
		if errors.Is(err, apperr.ErrNotFound) {
			err = invalidToken()
		}
		if err != nil {
			return err
		}
		httpx.Encode(w, http.StatusOK, accepted{Status: "password_reset", Detail: "Your password is changed. Log in with the new one."})
		return nil
	})
}

type createAPIKeyRequest struct {
	Name string `json:"name"`
}

func (r *createAPIKeyRequest) Validate() error {
	var v apperr.Validation
	r.Name = strings.TrimSpace(r.Name)
	checkName(&v, r.Name)
	return v.Err()
}

type apiKeyResponse struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	LastUsedAt *time.Time `json:"last_used_at"`
	CreatedAt  time.Time  `json:"created_at"`
	// Secret is only in the response that creates the key.
	Secret string `json:"secret,omitempty"`
}

func toAPIKeyResponse(k APIKey) apiKeyResponse {
	return apiKeyResponse{ID: k.ID, Name: k.Name, Prefix: k.Prefix, LastUsedAt: k.LastUsedAt, CreatedAt: k.CreatedAt}
}

// createAPIKey mints a key and shows its secret this once. Only a login can
// mint keys, so a leaked key cannot mint itself successors.
func (s *Service) createAPIKey() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		p, err := sessionPrincipal(ctx)
		if err != nil {
			return err
		}
		in, err := httpx.Decode[createAPIKeyRequest](r)
		if err != nil {
			return err
		}
		secret, secretHash := newToken(authn.APIKeyPrefix)
		k := APIKey{ID: id.New("key"), UserID: p.UserID, Name: in.Name, Prefix: secret[:len(authn.APIKeyPrefix)+6], CreatedAt: s.now()}
		if err := insertAPIKey(ctx, s.db, k, secretHash); err != nil {
			return err
		}
		res := toAPIKeyResponse(k)
		res.Secret = secret
		httpx.Encode(w, http.StatusCreated, res)
		return nil
	})
}

func (s *Service) listAPIKeys() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		p, err := principal(ctx)
		if err != nil {
			return err
		}
		page, err := s.keyPager.Parse(r)
		if err != nil {
			return err
		}
		var before string
		if _, err := page.After(&before); err != nil {
			return err
		}
		keys, err := listAPIKeys(ctx, s.db, p.UserID, before, page.Limit+1)
		if err != nil {
			return err
		}
		out := make([]apiKeyResponse, len(keys))
		for i, k := range keys {
			out[i] = toAPIKeyResponse(k)
		}
		httpx.Encode(w, http.StatusOK, httpx.NewList(out, page.Limit, func(k apiKeyResponse) any { return k.ID }, s.keyPager))
		return nil
	})
}

func (s *Service) deleteAPIKey() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		p, err := principal(ctx)
		if err != nil {
			return err
		}
		keyID := r.PathValue("id")
		if !id.Valid("key", keyID) {
			err = fmt.Errorf("api key %q: %w", keyID, apperr.ErrNotFound)
		} else {
			err = revokeAPIKey(ctx, s.db, p.UserID, keyID, s.now())
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

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
			return authn.Principal{}, fmt.Errorf("unknown or revoked API key: %w", apperr.ErrUnauthenticated)
		}
		if err != nil {
			return authn.Principal{}, err
		}
		now := time.Now().UTC()
		if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) >= lastUsedGranularity {
			// Bookkeeping: failing it is no reason to refuse the request.
			if err := touchAPIKey(ctx, db, k.ID, now); err != nil {
				httpx.Logger(ctx).Warn("api key last_used_at not recorded", "api_key_id", k.ID, "err", err)
			}
		}
		return authn.Principal{UserID: k.UserID, APIKeyID: k.ID}, nil
	}
}
