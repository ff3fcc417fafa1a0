package auth

import (
	"maps"
	"slices"

	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/httpx"
)

// Public lists the routes that exist to obtain credentials, and so cannot
// require them, and the public keys that verify access tokens, which anyone
// may read. Every other route of the service requires an access token or an
// API key.
func (s *Service) Public() []string {
	var pages []string
	if s.devPages {
		pages = slices.Sorted(maps.Keys(devPages))
	}
	return append(pages,
		"POST /v1/auth/signup",
		"POST /v1/auth/login",
		"POST /v1/auth/refresh",
		"POST /v1/auth/verify-email",
		"POST /v1/auth/verify-email/resend",
		"POST /v1/auth/password-reset",
		"POST /v1/auth/password-reset/confirm",
		"GET /.well-known/jwks.json",
	)
}

// Routes registers the auth service's whole API on mux.
func (s *Service) Routes(mux httpx.Router) {
	perIP := s.limitByIP
	mux.Handle("POST /v1/auth/signup", perIP(s.signup()))
	mux.Handle("POST /v1/auth/login", perIP(s.login()))
	mux.Handle("POST /v1/auth/refresh", perIP(s.refresh()))
	mux.Handle("POST /v1/auth/verify-email", perIP(s.verifyEmail()))
	mux.Handle("POST /v1/auth/verify-email/resend", perIP(s.resendVerification()))
	mux.Handle("POST /v1/auth/password-reset", perIP(s.requestPasswordReset()))
	mux.Handle("POST /v1/auth/password-reset/confirm", perIP(s.confirmPasswordReset()))
	// Not limited: the answer is a constant, rendered once, that clients cache.
	mux.Handle("GET /.well-known/jwks.json", authn.JWKSHandler(s.keys))

	mux.Handle("POST /v1/auth/logout", s.logout())

	mux.Handle("GET /v1/me", s.me())
	mux.Handle("PATCH /v1/me", s.updateMe())
	mux.Handle("DELETE /v1/me", s.deleteMe())
	mux.Handle("POST /v1/me/password", s.changePassword())
	mux.Handle("GET /v1/me/sessions", s.listSessions())
	mux.Handle("DELETE /v1/me/sessions/{id}", s.deleteSession())

	mux.Handle("POST /v1/api-keys", s.createAPIKey())
	mux.Handle("GET /v1/api-keys", s.listAPIKeys())
	mux.Handle("DELETE /v1/api-keys/{id}", s.deleteAPIKey())

	if s.devPages {
		for _, pattern := range slices.Sorted(maps.Keys(devPages)) {
			mux.Handle(pattern, s.servePage(devPages[pattern]))
		}
	}
}
