package apptest

import (
	"net/http"
	"testing"
)

// User is an account made by [Server.NewUser], logged in.
type User struct {
	ID     string
	Email  string
	Access string // an access token of a live login
}

// UserPassword is the password of every account NewUser makes.
const UserPassword = "correct horse battery staple, apptest"

// NewUser makes an account the way a client does: it signs up with email,
// follows the link of the verification mail and logs in. It needs the
// auth service mounted and the worker on (Start's defaults).
func (s *Server) NewUser(tb testing.TB, email string) User {
	tb.Helper()
	s.Want(tb, http.StatusAccepted, "POST", "/v1/auth/signup", "", map[string]string{"email": email, "password": UserPassword, "name": "Test User"})
	token := LinkToken(tb, string(s.WaitMail(tb, email, "Please verify your email").Body), "/verify-email")
	s.Want(tb, http.StatusOK, "POST", "/v1/auth/verify-email", "", map[string]string{"token": token, "password": UserPassword})
	login := s.Want(tb, http.StatusOK, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": UserPassword})
	me := s.Want(tb, http.StatusOK, "GET", "/v1/me", login["access_token"].(string), nil)
	return User{ID: me["id"].(string), Email: email, Access: login["access_token"].(string)}
}

// NewAPIKey creates an API key of u's with scope ("read" or "full") and
// returns its secret.
func (s *Server) NewAPIKey(tb testing.TB, u User, scope string) string {
	tb.Helper()
	key := s.Want(tb, http.StatusCreated, "POST", "/v1/api-keys", u.Access, map[string]string{"name": "apptest " + scope, "scope": scope})
	return key["secret"].(string)
}
