package auth

import (
	"context"
	"net/http"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/ratelimit"
)

// The handlers decode, call one operation, and encode; the rules live in
// the operations.

// limitByIP applies the per-client-IP limit of the credential endpoints.
func (s *Service) limitByIP(h http.Handler) http.Handler {
	return s.ipLimit.Middleware(ratelimit.ByIP(s.proxies))(h)
}

// accepted answers a request whose effect comes later, by email.
type accepted struct {
	Status string `json:"status"`
	Detail string `json:"detail"`
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

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"` // seconds
	RefreshToken string `json:"refresh_token"`
}

func toTokenResponse(t Tokens) tokenResponse {
	return tokenResponse{AccessToken: t.AccessToken, TokenType: "Bearer", ExpiresIn: int(t.ExpiresIn / time.Second), RefreshToken: t.RefreshToken}
}

func (s *Service) signup() http.Handler {
	type request struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		Name     string `json:"name"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := httpx.Decode[request](r)
		if err != nil {
			return err
		}
		email, err := s.SignUp(r.Context(), in.Email, in.Password, in.Name)
		if err != nil {
			return err
		}
		httpx.Encode(w, http.StatusAccepted, accepted{
			Status: "pending_verification",
			Detail: "We sent an email to " + email + ". Follow its link to verify the address, then log in.",
		})
		return nil
	})
}

func (s *Service) verifyEmail() http.Handler {
	type request struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := httpx.Decode[request](r)
		if err != nil {
			return err
		}
		if err := s.VerifyEmail(r.Context(), in.Token, in.Password); err != nil {
			return err
		}
		httpx.Encode(w, http.StatusOK, accepted{Status: "verified", Detail: "Your email address is verified. You can log in."})
		return nil
	})
}

func (s *Service) login() http.Handler {
	type request struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := httpx.Decode[request](r)
		if err != nil {
			return err
		}
		ip, _ := ratelimit.ByIP(s.proxies)(r)
		t, err := s.LogIn(r.Context(), in.Email, in.Password, ip)
		if err != nil {
			return err
		}
		httpx.Encode(w, http.StatusOK, toTokenResponse(t))
		return nil
	})
}

func (s *Service) refresh() http.Handler {
	type request struct {
		RefreshToken string `json:"refresh_token"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := httpx.Decode[request](r)
		if err != nil {
			return err
		}
		t, err := s.Refresh(r.Context(), in.RefreshToken)
		if err != nil {
			return err
		}
		httpx.Encode(w, http.StatusOK, toTokenResponse(t))
		return nil
	})
}

// principal returns the caller, who the authn middleware has already
// authenticated on every route of this service outside Public.

// sessionPrincipal is for the routes that act on a login, which an API key
// is not. Only a login can mint keys, so a leaked key cannot mint itself
// successors.
func sessionPrincipal(ctx context.Context) (authn.Principal, error) {
	p, err := authn.Caller(ctx)
	if err == nil && p.SessionID == "" {
		return p, apperr.New(apperr.ErrForbidden, "this needs an access token from a login, not an API key")
	}
	return p, err
}

func (s *Service) logout() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, err := sessionPrincipal(r.Context())
		if err != nil {
			return err
		}
		if err := s.LogOut(r.Context(), p.SessionID); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (s *Service) me() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, err := authn.Caller(r.Context())
		if err != nil {
			return err
		}
		u, err := s.User(r.Context(), p.UserID)
		if err != nil {
			return err
		}
		httpx.Encode(w, http.StatusOK, toUserResponse(u))
		return nil
	})
}

func (s *Service) updateMe() http.Handler {
	// A pointer per field: nil means "leave unchanged".
	type request struct {
		Name *string `json:"name"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, err := authn.Caller(r.Context())
		if err != nil {
			return err
		}
		in, err := httpx.Decode[request](r)
		if err != nil {
			return err
		}
		u, err := s.UpdateProfile(r.Context(), p.UserID, p.SessionID, ProfileChange{Name: in.Name})
		if err != nil {
			return err
		}
		httpx.Encode(w, http.StatusOK, toUserResponse(u))
		return nil
	})
}

func (s *Service) changePassword() http.Handler {
	type request struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, err := sessionPrincipal(r.Context())
		if err != nil {
			return err
		}
		in, err := httpx.Decode[request](r)
		if err != nil {
			return err
		}
		if err := s.ChangePassword(r.Context(), p.UserID, p.SessionID, in.CurrentPassword, in.NewPassword); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (s *Service) requestPasswordReset() http.Handler {
	type request struct {
		Email string `json:"email"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := httpx.Decode[request](r)
		if err != nil {
			return err
		}
		email, err := s.RequestPasswordReset(r.Context(), in.Email)
		if err != nil {
			return err
		}
		httpx.Encode(w, http.StatusAccepted, accepted{
			Status: "reset_requested",
			Detail: "If " + email + " has an account, we sent it a link to reset the password.",
		})
		return nil
	})
}

func (s *Service) confirmPasswordReset() http.Handler {
	type request struct {
		Token       string `json:"token"`
		NewPassword string `json:"new_password"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := httpx.Decode[request](r)
		if err != nil {
			return err
		}
		if err := s.ResetPassword(r.Context(), in.Token, in.NewPassword); err != nil {
			return err
		}
		httpx.Encode(w, http.StatusOK, accepted{Status: "password_reset", Detail: "Your password is changed. Log in with the new one."})
		return nil
	})
}

type apiKeyResponse struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scope      string     `json:"scope"`
	LastUsedAt *time.Time `json:"last_used_at"`
	CreatedAt  time.Time  `json:"created_at"`
	// Secret is only in the response that creates the key.
	Secret string `json:"secret,omitempty"`
}

func toAPIKeyResponse(k APIKey) apiKeyResponse {
	return apiKeyResponse{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scope: k.Scope, LastUsedAt: k.LastUsedAt, CreatedAt: k.CreatedAt}
}

func (s *Service) createAPIKey() http.Handler {
	type request struct {
		Name  string `json:"name"`
		Scope string `json:"scope"` // "read" or "full" (the default)
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, err := sessionPrincipal(r.Context())
		if err != nil {
			return err
		}
		in, err := httpx.Decode[request](r)
		if err != nil {
			return err
		}
		k, secret, err := s.CreateAPIKey(r.Context(), p.UserID, p.SessionID, in.Name, in.Scope)
		if err != nil {
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
		p, err := authn.Caller(r.Context())
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
		keys, err := s.APIKeys(r.Context(), p.UserID, before, page.Limit+1)
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
		p, err := authn.Caller(r.Context())
		if err != nil {
			return err
		}
		if err := s.RevokeAPIKey(r.Context(), p.UserID, p.SessionID, r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (s *Service) resendVerification() http.Handler {
	type request struct {
		Email string `json:"email"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := httpx.Decode[request](r)
		if err != nil {
			return err
		}
		email, err := s.ResendVerification(r.Context(), in.Email)
		if err != nil {
			return err
		}
		httpx.Encode(w, http.StatusAccepted, accepted{
			Status: "verification_requested",
			Detail: "If " + email + " has an account waiting for verification, we sent it a new link.",
		})
		return nil
	})
}

func (s *Service) deleteMe() http.Handler {
	type request struct {
		Password string `json:"password"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, err := sessionPrincipal(r.Context())
		if err != nil {
			return err
		}
		in, err := httpx.Decode[request](r)
		if err != nil {
			return err
		}
		if err := s.DeleteAccount(r.Context(), p.UserID, p.SessionID, in.Password); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

type sessionResponse struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Current is true for the login the request was made with.
	Current bool `json:"current"`
}

func (s *Service) listSessions() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, err := sessionPrincipal(r.Context())
		if err != nil {
			return err
		}
		page, err := s.sessionPager.Parse(r)
		if err != nil {
			return err
		}
		var before string
		if _, err := page.After(&before); err != nil {
			return err
		}
		list, err := s.Sessions(r.Context(), p.UserID, p.SessionID, before, page.Limit+1)
		if err != nil {
			return err
		}
		out := make([]sessionResponse, len(list))
		for i, l := range list {
			out[i] = sessionResponse{ID: l.ID, CreatedAt: l.CreatedAt, ExpiresAt: l.ExpiresAt, Current: l.ID == p.SessionID}
		}
		httpx.Encode(w, http.StatusOK, httpx.NewList(out, page.Limit, func(l sessionResponse) any { return l.ID }, s.sessionPager))
		return nil
	})
}

func (s *Service) deleteSession() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, err := sessionPrincipal(r.Context())
		if err != nil {
			return err
		}
		if err := s.RevokeSession(r.Context(), p.UserID, p.SessionID, r.PathValue("id")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
