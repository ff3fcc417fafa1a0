package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/config"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/id"
	"github.com/rightsize/rightsize/internal/platform/mail"
	"github.com/rightsize/rightsize/internal/platform/ratelimit"
	"github.com/rightsize/rightsize/internal/service"
)

// These tests call the operations as a job or a webhook would: on a Service
// built by New, with a plain context, no request, no handler. Their errors
// are the documented ones, read with errors.Is and errors.As.

const (
	opsPassword = "a long enough passphrase"
	opsNewPass  = "another long passphrase"
)

// opsBundle is one auth service on a database of its own, its jobs client
// only inserting: every job an operation queues stays in river_job.
type opsBundle struct {
	s    *Service
	db   *database.DB
	keys *authn.Keys
}

// newOpsService builds the service as app does. change may alter the
// configuration, whose rate limits are otherwise too loose to matter.
func newOpsService(tb testing.TB, change func(*Config)) *opsBundle {
	tb.Helper()
	ctx := context.Background()
	db := newTestDB(tb)
	jc, err := jobs.New(ctx, db, jobs.Options{Work: false})
	if err != nil {
		tb.Fatalf("jobs: %v", err)
	}
	tb.Cleanup(jc.Close)
	seed, err := authn.GenerateSeed()
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := authn.ParseKeys(seed)
	if err != nil {
		tb.Fatal(err)
	}
	loose := ratelimit.Rate{Events: 100_000, Per: time.Minute}
	cfg := Config{AccessTokenTTL: 15 * time.Minute, RefreshTokenTTL: 720 * time.Hour, RateLimitAuth: loose, RateLimitAccount: loose, PasswordHash: opsParams}
	if change != nil {
		change(&cfg)
	}
	mailer := mail.NewConsole(slog.New(slog.DiscardHandler), "Rightsize <noreply@rightsize.test>")
	s, err := New(&cfg, service.Deps{
		Config: config.Config{PublicURL: "http://app.test", CursorSecret: []byte(rand.Text())},
		DB:     db,
		Jobs:   jc,
		Keys:   keys,
		Mailer: mailer,
	})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	// A client that only inserts still refuses jobs without a worker.
	s.Workers(jc.Workers())
	river.AddWorker(jc.Workers(), &mail.SendWorker{Mailer: mailer})
	return &opsBundle{s: s, db: db, keys: keys}
}

// wantErr fails the test unless err is of kind (nil: no error) and, if
// fields are given, an *apperr.ValidationError naming exactly those.
func wantErr(tb testing.TB, err, kind error, fields ...string) {
	tb.Helper()
	if kind == nil {
		if err != nil {
			tb.Fatalf("got error %v, want none", err)
		}
		return
	}
	if !errors.Is(err, kind) {
		tb.Fatalf("got error %v, want one of kind %q", err, kind)
	}
	if len(fields) == 0 {
		return
	}
	ve, ok := errors.AsType[*apperr.ValidationError](err)
	if !ok {
		tb.Fatalf("got %T %v, want an *apperr.ValidationError", err, err)
	}
	var got []string
	for _, f := range ve.Fields {
		got = append(got, f.Field)
	}
	slices.Sort(got)
	got = slices.Compact(got)
	if !slices.Equal(got, fields) {
		tb.Fatalf("invalid fields: got %q, want %q (%v)", got, fields, err)
	}
}

// opsHash is opsPassword's hash, made once: each costs tens of
// milliseconds, hundreds under the race detector.
var opsHash = sync.OnceValues(func() (string, error) { return HashPassword(context.Background(), opsPassword, opsParams) })

// opsParams are the cheapest costs, as apptest.PasswordHash's: the default
// costs are for hash_test.go.
var opsParams = PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// addUser stores an account, verified or not, and returns its ID.
func (b *opsBundle) addUser(tb testing.TB, email string, verified bool) string {
	tb.Helper()
	hash, err := opsHash()
	if err != nil {
		tb.Fatalf("HashPassword: %v", err)
	}
	ctx := context.Background()
	u := User{ID: id.New("usr"), Email: email, Name: "Ada", PasswordHash: hash, CreatedAt: now()}
	if err := insertUser(ctx, b.db, u); err != nil {
		tb.Fatalf("add user: %v", err)
	}
	if verified {
		if err := markEmailVerified(ctx, b.db, u.ID, now()); err != nil {
			tb.Fatalf("verify user: %v", err)
		}
	}
	return u.ID
}

// emailToken stores a live token of purpose for a user, as the workers do
// before mailing it, and returns it.
func (b *opsBundle) emailToken(tb testing.TB, userID, purpose string) string {
	tb.Helper()
	token, hash := newToken("")
	if err := insertEmailToken(context.Background(), b.db, hash, purpose, userID, now().Add(time.Hour), now()); err != nil {
		tb.Fatalf("insert email token: %v", err)
	}
	return token
}

// jobArgs returns the JSON arguments of the queued jobs of kind, oldest
// first.
func (b *opsBundle) jobArgs(tb testing.TB, kind string) []string {
	tb.Helper()
	// River keeps them as jsonb on PostgreSQL, as SQLite's binary JSONB on
	// SQLite.
	query := `SELECT args::text FROM river_job WHERE kind = $1 ORDER BY id`
	if b.db.Dialect() == database.SQLite {
		query = `SELECT json(args) FROM river_job WHERE kind = $1 ORDER BY id`
	}
	rows, err := b.db.Query(context.Background(), query, kind)
	if err != nil {
		tb.Fatalf("river_job: %v", err)
	}
	var out []string
	for rows.Next() {
		var args []byte
		if err := rows.Scan(&args); err != nil {
			tb.Fatal(err)
		}
		out = append(out, string(args))
	}
	if err := rows.Close(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// sessionOf returns the session (login) an access token belongs to.
func (b *opsBundle) sessionOf(tb testing.TB, t Tokens) string {
	tb.Helper()
	c, err := b.keys.Verify(t.AccessToken, time.Now())
	if err != nil {
		tb.Fatalf("access token: %v", err)
	}
	return c.SessionID
}

func TestSignUpWithoutHTTP(t *testing.T) {
	t.Parallel()
	b := newOpsService(t, nil)
	ctx := context.Background()

	refused := []struct {
		name, email, password, userName string
		fields                          []string
	}{
		{"nothing", "", "", "", []string{"email", "name", "password"}},
		{"display name in the address", "Ada <ada@example.com>", opsPassword, "Ada", []string{"email"}},
		{"blank name", "ada@example.com", opsPassword, "  ", []string{"name"}},
		{"short password", "ada@example.com", "short", "Ada", []string{"password"}},
		{"password is the address", "ada@example.com", "ADA@example.com", "Ada", []string{"password"}},
	}
	for _, tt := range refused {
		_, err := b.s.SignUp(ctx, tt.email, tt.password, tt.userName)
		wantErr(t, err, apperr.ErrInvalid, tt.fields...)
	}
	if n := len(b.jobArgs(t, SendVerificationArgs{}.Kind())); n != 0 {
		t.Fatalf("verification jobs after refused signups: got %d, want 0", n)
	}

	email, err := b.s.SignUp(ctx, "  Ada@Example.COM ", opsPassword, " Ada ")
	wantErr(t, err, nil)
	if email != "ada@example.com" {
		t.Errorf("SignUp returned %q, want the normalized ada@example.com", email)
	}
	u, err := userByEmail(ctx, b.db, email)
	if err != nil {
		t.Fatalf("the new account: %v", err)
	}
	if u.Name != "Ada" || u.EmailVerifiedAt != nil {
		t.Errorf("new account: got name %q, verified %v; want %q, unverified", u.Name, u.EmailVerifiedAt, "Ada")
	}
	if got := b.jobArgs(t, SendVerificationArgs{}.Kind()); len(got) != 1 || !strings.Contains(got[0], u.ID) {
		t.Errorf("verification jobs: got %q, want one for %s", got, u.ID)
	}
	_, err = b.s.LogIn(ctx, email, opsPassword, "192.0.2.1")
	wantErr(t, err, apperr.ErrForbidden)

	// The address again, spelled otherwise, before it is verified: the same
	// answer, no new account, but the pending one takes the new password
	// and name, its older link is retired, and a fresh one goes out.
	oldToken := b.emailToken(t, u.ID, purposeVerify)
	again, err := b.s.SignUp(ctx, "ADA@example.com", "yet another passphrase", "Mallory")
	wantErr(t, err, nil)
	if again != email {
		t.Errorf("second SignUp returned %q, want %q", again, email)
	}
	if n := len(b.jobArgs(t, SendVerificationArgs{}.Kind())); n != 2 {
		t.Errorf("verification jobs after a second signup: got %d, want 2", n)
	}
	if got := b.jobArgs(t, mail.SendArgs{}.Kind()); len(got) != 0 {
		t.Errorf("mail jobs after a second signup: got %q, want none", got)
	}
	wantErr(t, b.s.VerifyEmail(ctx, oldToken, "yet another passphrase"), apperr.ErrInvalid, "token")

	token := b.emailToken(t, u.ID, purposeVerify)
	wantErr(t, b.s.VerifyEmail(ctx, "not-a-token", "yet another passphrase"), apperr.ErrInvalid, "token")
	wantErr(t, b.s.VerifyEmail(ctx, token, opsPassword), apperr.ErrInvalid, "password") // the first signup's: replaced
	wantErr(t, b.s.VerifyEmail(ctx, token, "yet another passphrase"), nil)
	wantErr(t, b.s.VerifyEmail(ctx, token, "yet another passphrase"), apperr.ErrInvalid, "token")
	_, err = b.s.LogIn(ctx, email, opsPassword, "192.0.2.1")
	wantErr(t, err, apperr.ErrUnauthenticated)
	tokens, err := b.s.LogIn(ctx, email, "yet another passphrase", "192.0.2.1")
	wantErr(t, err, nil)
	if c, err := b.keys.Verify(tokens.AccessToken, time.Now()); err != nil || c.UserID != u.ID {
		t.Errorf("access token after verifying: got claims %+v, error %v; want user %s", c, err, u.ID)
	}
}

func TestLogInWithoutHTTP(t *testing.T) {
	t.Parallel()
	b := newOpsService(t, nil)
	ctx := context.Background()
	b.addUser(t, "ada@example.com", true)
	b.addUser(t, "grace@example.com", false)

	tests := []struct {
		name, email, password string
		kind                  error
		fields                []string
	}{
		{"right password", " ADA@example.com", opsPassword, nil, nil},
		{"wrong password", "ada@example.com", "wrong passphrase", apperr.ErrUnauthenticated, nil},
		{"unknown email", "nobody@example.com", opsPassword, apperr.ErrUnauthenticated, nil},
		{"unverified email", "grace@example.com", opsPassword, apperr.ErrForbidden, nil},
		{"unverified email, wrong password", "grace@example.com", "wrong passphrase", apperr.ErrUnauthenticated, nil},
		{"malformed email", "ada@", opsPassword, apperr.ErrInvalid, []string{"email"}},
		{"no password", "ada@example.com", "", apperr.ErrInvalid, []string{"password"}},
		{"password too long", "ada@example.com", strings.Repeat("x", 10_000), apperr.ErrInvalid, []string{"password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := b.s.LogIn(ctx, tt.email, tt.password, "192.0.2.1")
			wantErr(t, err, tt.kind, tt.fields...)
		})
	}

	// An unknown email and a wrong password read alike.
	_, unknown := b.s.LogIn(ctx, "nobody@example.com", opsPassword, "192.0.2.1")
	_, wrong := b.s.LogIn(ctx, "ada@example.com", "wrong passphrase", "192.0.2.1")
	if apperr.Message(unknown) != apperr.Message(wrong) {
		t.Errorf("messages: got %q for an unknown email and %q for a wrong password, want the same", apperr.Message(unknown), apperr.Message(wrong))
	}
}

func TestLogInAccountLimitWithoutHTTP(t *testing.T) {
	t.Parallel()
	b := newOpsService(t, func(c *Config) { c.RateLimitAccount = ratelimit.Rate{Events: 2, Per: time.Minute} })
	ctx := context.Background()
	b.addUser(t, "ada@example.com", true)
	for i, email := range []string{"ada@example.com", "Ada@Example.com"} {
		_, err := b.s.LogIn(ctx, email, "wrong passphrase", "192.0.2.1")
		if !errors.Is(err, apperr.ErrUnauthenticated) {
			t.Fatalf("attempt %d: got %v, want a wrong-password error", i+1, err)
		}
	}
	_, err := b.s.LogIn(ctx, " ADA@example.com", opsPassword, "192.0.2.1")
	wantErr(t, err, apperr.ErrRateLimited)
	if d := apperr.RetryAfter(err); d <= 0 || d > time.Minute {
		t.Errorf("RetryAfter: got %v, want from 0 to 1m", d)
	}
}

func TestChangePasswordWithoutHTTP(t *testing.T) {
	t.Parallel()
	b := newOpsService(t, nil)
	ctx := context.Background()
	const email = "ada@example.com"
	userID := b.addUser(t, email, true)
	kept, err := b.s.LogIn(ctx, email, opsPassword, "192.0.2.1")
	wantErr(t, err, nil)
	other, err := b.s.LogIn(ctx, email, opsPassword, "192.0.2.1")
	wantErr(t, err, nil)
	keep := b.sessionOf(t, kept)

	refused := []struct {
		name, userID, current, next string
		kind                        error
		fields                      []string
	}{
		{"wrong current password", userID, "not the passphrase", opsNewPass, apperr.ErrInvalid, []string{"current_password"}},
		{"no current password", userID, "", opsNewPass, apperr.ErrInvalid, []string{"current_password"}},
		{"nothing", userID, "", "", apperr.ErrInvalid, []string{"current_password", "new_password"}},
		{"new password too short", userID, opsPassword, "short", apperr.ErrInvalid, []string{"new_password"}},
		{"new password too common", userID, opsPassword, "password1234", apperr.ErrInvalid, []string{"new_password"}},
		{"new password is the email", userID, opsPassword, email, apperr.ErrInvalid, []string{"new_password"}},
		{"no such user", id.New("usr"), opsPassword, opsNewPass, apperr.ErrUnauthenticated, nil},
	}
	for _, tt := range refused {
		err := b.s.ChangePassword(ctx, tt.userID, keep, tt.current, tt.next)
		wantErr(t, err, tt.kind, tt.fields...)
	}
	// None of that changed anything.
	other, err = b.s.Refresh(ctx, other.RefreshToken)
	wantErr(t, err, nil)

	wantErr(t, b.s.ChangePassword(ctx, userID, keep, opsPassword, opsNewPass), nil)
	_, err = b.s.LogIn(ctx, email, opsPassword, "192.0.2.1")
	wantErr(t, err, apperr.ErrUnauthenticated)
	_, err = b.s.LogIn(ctx, email, opsNewPass, "192.0.2.1")
	wantErr(t, err, nil)
	_, err = b.s.Refresh(ctx, other.RefreshToken)
	wantErr(t, err, apperr.ErrUnauthenticated)
	_, err = b.s.Refresh(ctx, kept.RefreshToken)
	wantErr(t, err, nil)
}

func TestResetPasswordWithoutHTTP(t *testing.T) {
	t.Parallel()
	b := newOpsService(t, nil)
	ctx := context.Background()
	const email = "ada@example.com"
	// Unverified: the reset link proves the address.
	userID := b.addUser(t, email, false)

	_, err := b.s.RequestPasswordReset(ctx, "ada@")
	wantErr(t, err, apperr.ErrInvalid, "email")
	for _, addr := range []string{" ADA@Example.com ", "nobody@example.com"} {
		if _, err := b.s.RequestPasswordReset(ctx, addr); err != nil {
			t.Fatalf("RequestPasswordReset(%q): %v", addr, err)
		}
	}
	// Queued for both, unknown or not, with the address and nothing else:
	// the worker makes the token.
	got := b.jobArgs(t, PasswordResetArgs{}.Kind())
	want := []string{`{"email":"ada@example.com"}`, `{"email":"nobody@example.com"}`}
	for i := range got {
		got[i] = strings.ReplaceAll(got[i], " ", "")
	}
	if !slices.Equal(got, want) {
		t.Errorf("reset jobs: got %q, want %q", got, want)
	}

	// A login from before the reset (which needs the address verified),
	// then the address unverified again, so that the reset must verify it.
	if err := markEmailVerified(ctx, b.db, userID, now()); err != nil {
		t.Fatal(err)
	}
	before, err := b.s.LogIn(ctx, email, opsPassword, "192.0.2.1")
	wantErr(t, err, nil)
	if _, err := b.db.Exec(ctx, `UPDATE users SET email_verified_at = NULL WHERE id = $1`, userID); err != nil {
		t.Fatal(err)
	}

	token := b.emailToken(t, userID, purposeReset)
	older := b.emailToken(t, userID, purposeReset)
	verify := b.emailToken(t, userID, purposeVerify)
	refused := []struct {
		name, token, next string
		fields            []string
	}{
		{"nothing", "", "", []string{"new_password", "token"}},
		{"unknown token", "not-a-token", opsNewPass, []string{"token"}},
		{"a verification token", verify, opsNewPass, []string{"token"}},
		{"token too long", strings.Repeat("x", 201), opsNewPass, []string{"token"}},
		{"password too short", token, "short", []string{"new_password"}},
		{"password is the email", token, email, []string{"new_password"}},
	}
	for _, tt := range refused {
		wantErr(t, b.s.ResetPassword(ctx, tt.token, tt.next), apperr.ErrInvalid, tt.fields...)
	}

	wantErr(t, b.s.ResetPassword(ctx, token, opsNewPass), nil)
	wantErr(t, b.s.ResetPassword(ctx, token, "yet another passphrase"), apperr.ErrInvalid, "token")
	wantErr(t, b.s.ResetPassword(ctx, older, "yet another passphrase"), apperr.ErrInvalid, "token")
	_, err = b.s.Refresh(ctx, before.RefreshToken)
	wantErr(t, err, apperr.ErrUnauthenticated)
	_, err = b.s.LogIn(ctx, email, opsPassword, "192.0.2.1")
	wantErr(t, err, apperr.ErrUnauthenticated)
	// Logging in needs a verified address: the link verified it.
	_, err = b.s.LogIn(ctx, email, opsNewPass, "192.0.2.1")
	wantErr(t, err, nil)
}

// A refresh token used twice revokes its login, even with no request to
// log the warning on.
func TestRefreshReuseWithoutHTTP(t *testing.T) {
	t.Parallel()
	b := newOpsService(t, nil)
	ctx := context.Background()
	b.addUser(t, "ada@example.com", true)
	first, err := b.s.LogIn(ctx, "ada@example.com", opsPassword, "192.0.2.1")
	wantErr(t, err, nil)
	second, err := b.s.Refresh(ctx, first.RefreshToken)
	wantErr(t, err, nil)
	if b.sessionOf(t, second) != b.sessionOf(t, first) {
		t.Errorf("refresh changed the session: got %s, want %s", b.sessionOf(t, second), b.sessionOf(t, first))
	}
	_, err = b.s.Refresh(ctx, first.RefreshToken)
	wantErr(t, err, apperr.ErrUnauthenticated)
	_, err = b.s.Refresh(ctx, second.RefreshToken)
	wantErr(t, err, apperr.ErrUnauthenticated)
	_, err = b.s.Refresh(ctx, "")
	wantErr(t, err, apperr.ErrInvalid, "refresh_token")
}

// A rehash whose login read the hash before a password change must not put
// the old password back: it replaces only the hash it read.
func TestRehashDoesNotUndoAPasswordChange(t *testing.T) {
	t.Parallel()
	b := newOpsService(t, nil)
	ctx := context.Background()
	userID := b.addUser(t, "ada@example.com", true)
	read, err := opsHash()
	if err != nil {
		t.Fatal(err)
	}
	// The password changes between the login's read and its rehash.
	if err := b.s.setPassword(ctx, userID, opsNewPass, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := b.s.rehash(ctx, userID, read, opsPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.LogIn(ctx, "ada@example.com", opsNewPass, "192.0.2.1"); err != nil {
		t.Errorf("the new password after a late rehash: %v, want it to work", err)
	}
	if _, err := b.s.LogIn(ctx, "ada@example.com", opsPassword, "192.0.2.1"); !errors.Is(err, apperr.ErrUnauthenticated) {
		t.Errorf("the old password after a late rehash: %v, want it refused", err)
	}
}
