package auth_test

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/app/apptest"
	"github.com/rightsize/rightsize/internal/auth"
	"github.com/rightsize/rightsize/internal/platform/id"
	"github.com/rightsize/rightsize/internal/platform/mail"
	"github.com/rightsize/rightsize/internal/platform/resilience"
)

// publicURL is the PUBLIC_URL setup runs with: the links in mails start
// with it.
const publicURL = "http://app.test"

// testBundle is rightsize running for one test (apptest.Server: the real
// App behind the real chain, River working its jobs, mail through an
// in-process SMTP server), with what the auth tests add to it.
type testBundle struct {
	*apptest.Server
}

// setup starts the bundle. env sets variables on top of apptest's defaults
// (loose rate limits, the worker on), such as
// {"RATE_LIMIT_ACCOUNT": "2/min"}; later maps win.
func setup(tb testing.TB, env ...map[string]string) *testBundle {
	tb.Helper()
	vars := map[string]string{"PUBLIC_URL": publicURL}
	for _, e := range env {
		maps.Copy(vars, e)
	}
	return &testBundle{Server: apptest.Start(tb, vars)}
}

// wantInvalid fails the test unless r is a 400 naming field, and only it.
func wantInvalid(tb testing.TB, r apptest.Response, field string) {
	tb.Helper()
	if r.Status != http.StatusBadRequest {
		tb.Fatalf("got %d %v, want 400", r.Status, r.Body)
	}
	if got := apptest.ErrorFields(r.Body); !slices.Equal(slices.Compact(got), []string{field}) {
		tb.Fatalf("invalid fields: got %q, want [%q]; body %v", got, field, r.Body)
	}
}

// keysOf returns the sorted keys of a JSON object: the shape of a body.
func keysOf(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

// passwordHash hashes pw with the costs the test server runs with
// (apptest.PasswordHash), so that logging in does not rehash it.
func passwordHash(tb testing.TB, pw string) string {
	tb.Helper()
	return hashWith(tb, pw, apptest.PasswordHash)
}

// defaultCosts is PASSWORD_HASH's default.
const defaultCosts = "m=19456,t=2,p=1"

// hashWith hashes pw with costs, a PASSWORD_HASH value.
func hashWith(tb testing.TB, pw, costs string) string {
	tb.Helper()
	p, err := auth.ParsePasswordParams(costs)
	if err != nil {
		tb.Fatal(err)
	}
	h, err := auth.HashPassword(context.Background(), pw, p)
	if err != nil {
		tb.Fatalf("HashPassword: %v", err)
	}
	return h
}

// addUser stores an account directly, verified or not, so that tests of
// what comes after signup neither sign up nor read a verification mail.
// It returns the user's ID.
func (b *testBundle) addUser(tb testing.TB, email, pw string, verified bool) string {
	tb.Helper()
	now := time.Now().UTC()
	var verifiedAt *time.Time
	if verified {
		verifiedAt = &now
	}
	userID := id.New("usr")
	_, err := b.DB.Exec(context.Background(), `INSERT INTO users (id, email, name, password_hash, email_verified_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)`, userID, email, "Test User", passwordHash(tb, pw), verifiedAt, now)
	if err != nil {
		tb.Fatalf("add user %s: %v", email, err)
	}
	return userID
}

// login returns a new session's access and refresh tokens.
func (b *testBundle) login(tb testing.TB, email, pw string) (access, refresh string) {
	tb.Helper()
	out := b.Want(tb, http.StatusOK, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": pw})
	access, _ = out["access_token"].(string)
	refresh, _ = out["refresh_token"].(string)
	if access == "" || refresh == "" {
		tb.Fatalf("login: got %v, want access and refresh tokens", out)
	}
	return access, refresh
}

// assertNoMailYet proves that the SMTP server has received nothing so far:
// it sends a sentinel through the same server and checks that the first
// message waiting is the sentinel.
func (b *testBundle) assertNoMailYet(tb testing.TB) {
	tb.Helper()
	const sentinel = "sentinel@rightsize.test"
	mailer, err := mail.NewSMTP(b.SMTP.URL(), "Rightsize <noreply@rightsize.test>",
		resilience.NewBreaker("smtp-test", resilience.Settings{Timeout: 10 * time.Second}, nil))
	if err != nil {
		tb.Fatalf("SMTP mailer: %v", err)
	}
	if err := mailer.Send(context.Background(), mail.Message{To: sentinel, Subject: "sentinel", Text: "."}); err != nil {
		tb.Fatalf("send sentinel: %v", err)
	}
	if m := b.SMTP.Wait(tb, 30*time.Second); !slices.Equal(m.To, []string{sentinel}) {
		tb.Fatalf("got a mail to %v (%q), want none before the sentinel", m.To, m.Header.Get("Subject"))
	}
}
