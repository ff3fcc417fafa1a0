package auth

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"log/slog"
	"net/http"
)

// The pages the links in our mail open, for development only: when
// PUBLIC_URL is the API itself, /verify-email, /reset-password and /login
// answer a minimal page that completes the flow in a browser by calling the
// API. In production a front end serves these paths instead.

//go:embed pages
var pageFiles embed.FS

var (
	pageTemplate = template.Must(template.ParseFS(pageFiles, "pages/page.html"))
	pageScript   = mustRead("pages/page.js")
	// pageCSP allows the one inline script by its hash, and nothing else.
	pageCSP = func() string {
		sum := sha256.Sum256([]byte(pageScript))
		return "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
			"'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
	}()
)

func mustRead(name string) string {
	b, err := pageFiles.ReadFile(name)
	if err != nil {
		panic(err) // embedded above
	}
	return string(b)
}

type pageField struct{ Name, Label, Type, Autocomplete string }

type page struct {
	Title, Endpoint, Button string
	Fields                  []pageField
	Script                  template.JS
}

// devPages lists the development pages by path.
var devPages = map[string]page{
	"GET /verify-email": {Title: "Verify your email", Endpoint: "/v1/auth/verify-email", Button: "Verify",
		Fields: []pageField{{"password", "The password you signed up with", "password", "current-password"}}},
	"GET /reset-password": {Title: "Choose a new password", Endpoint: "/v1/auth/password-reset/confirm", Button: "Set password",
		Fields: []pageField{{"new_password", "New password", "password", "new-password"}}},
	"GET /login": {Title: "Log in", Endpoint: "/v1/auth/login", Button: "Log in",
		Fields: []pageField{{"email", "Email", "email", "username"}, {"password", "Password", "password", "current-password"}}},
}

func (s *Service) servePage(p page) http.Handler {
	p.Script = template.JS(pageScript)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", pageCSP)
		h.Set("Cache-Control", "no-store")
		if err := pageTemplate.Execute(w, p); err != nil {
			s.logger.WarnContext(r.Context(), "development page failed", slog.Any("err", err))
		}
	})
}
