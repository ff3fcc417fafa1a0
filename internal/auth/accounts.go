package auth

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/id"
	"github.com/rightsize/rightsize/internal/platform/text"
)

// SignUp creates an unverified account and queues its verification mail, in
// one transaction. If email has an account that is not verified yet, it
// replaces that account's password and name, retires its older links and
// sends a fresh one: whoever signed up first with someone else's address
// does not get to choose the password the owner will verify. If email has a
// verified account it mails the owner instead. Every case takes the same
// password-hashing work and returns nil, so the caller cannot tell them
// apart, nor let a client do so.
//
// It returns the normalized address (trimmed, lower-cased), an
// *apperr.ValidationError naming the fields "email", "password" and "name"
// that are wrong, or an apperr.ErrRateLimited error when the address has
// been tried too often.
func (s *Service) SignUp(ctx context.Context, email, password, name string) (string, error) {
	var v apperr.Validation
	email = normalizeEmail(&v, "email", email)
	name = strings.TrimSpace(name)
	checkName(&v, "name", name)
	addFieldErrors(&v, "password", CheckPassword(password, email))
	if err := v.Err(); err != nil {
		return email, err
	}
	if err := s.acctLimit.Check("signup:" + email); err != nil {
		return email, err
	}
	hash, err := HashPassword(ctx, password, s.hashParams)
	if err != nil {
		return email, err
	}
	u := User{ID: id.New("usr"), Email: email, Name: name, PasswordHash: hash, CreatedAt: now()}
	err = s.db.Transact(ctx, func(tx *database.Tx) error {
		if err := s.jobs.InsertTx(ctx, tx, SendVerificationArgs{UserID: u.ID}, nil); err != nil {
			return err
		}
		// After the job: if this fails, the job goes with it.
		return insertUser(ctx, tx, u)
	})
	if !database.IsUniqueViolation(err) {
		return email, err
	}
	// A new transaction: on PostgreSQL the failed insert aborted the first.
	return email, s.db.Transact(ctx, func(tx *database.Tx) error {
		t := now()
		pending, err := replacePending(ctx, tx, email, name, hash, t)
		if errors.Is(err, apperr.ErrNotFound) {
			return s.mailTx(ctx, tx, existingAccountMessage(email, s.publicURL))
		}
		if err != nil {
			return err
		}
		if err := useEmailTokensOf(ctx, tx, pending, purposeVerify, t); err != nil {
			return err
		}
		return s.jobs.InsertTx(ctx, tx, SendVerificationArgs{UserID: pending}, nil)
	})
}

// ResendVerification queues a job that mails a fresh verification link to
// email if it has an account that is not verified yet. Like
// RequestPasswordReset, it does only that, for any well-formed address, so
// that neither its answer nor its timing tells whether the account exists.
// It returns the normalized address.
func (s *Service) ResendVerification(ctx context.Context, email string) (string, error) {
	var v apperr.Validation
	email = normalizeEmail(&v, "email", email)
	if err := v.Err(); err != nil {
		return email, err
	}
	if err := s.acctLimit.Check("verify:" + email); err != nil {
		return email, err
	}
	return email, s.db.Transact(ctx, func(tx *database.Tx) error {
		return s.jobs.InsertTx(ctx, tx, ResendVerificationArgs{Email: email}, nil)
	})
}

// DeleteAccount deletes the user's account, with its logins, tokens and
// API keys, for a user who proves the password from a live login (else
// apperr.ErrUnauthenticated). A wrong password is an
// *apperr.ValidationError on "password".
func (s *Service) DeleteAccount(ctx context.Context, userID, sessionID, password string) error {
	var v apperr.Validation
	v.Check(password != "", "password", "is required")
	v.Check(utf8.RuneCountInString(password) <= maxPasswordRunes, "password", "is too long")
	if err := v.Err(); err != nil {
		return err
	}
	if err := s.acctLimit.Check("password:" + userID); err != nil {
		return err
	}
	u, err := s.liveLogin(ctx, s.db, userID, sessionID)
	if err != nil {
		return err
	}
	ok, _, err := verifyPassword(ctx, password, u.PasswordHash, s.hashParams)
	if err != nil {
		return err
	}
	if !ok {
		v.Add("password", "is not your password")
		return v.Err()
	}
	if err := s.deletable(ctx, u.ID); err != nil {
		return err
	}
	return deleteUser(ctx, s.db, u.ID)
}

// VerifyEmail uses up a verification token and marks its account's address
// verified, for whoever proves the account's pending password too. The
// password is what makes the link safe to click: someone who signed up with
// another person's address, even after them, sets a password the owner
// does not know, so the owner's click cannot verify an account the
// squatter would then log in to. An unknown, used or expired token is an
// *apperr.ValidationError on "token"; a wrong password one on "password",
// whose message tells the owner to sign up again, which sets their own.
func (s *Service) VerifyEmail(ctx context.Context, token, password string) error {
	var v apperr.Validation
	checkToken(&v, "token", token)
	v.Check(password != "", "password", "is required")
	v.Check(utf8.RuneCountInString(password) <= maxPasswordRunes, "password", "is too long")
	if err := v.Err(); err != nil {
		return err
	}
	u, err := emailTokenUser(ctx, s.db, hashToken(token), purposeVerify, now())
	if errors.Is(err, apperr.ErrNotFound) {
		return invalidToken("token")
	}
	if err != nil {
		return err
	}
	ok, _, err := verifyPassword(ctx, password, u.PasswordHash, s.hashParams)
	if err != nil {
		return err
	}
	if !ok {
		v.Add("password", "is not the password this account was signed up with: sign up again with this address to choose it, and use the newest link")
		return v.Err()
	}
	t := now()
	err = s.db.Transact(ctx, func(tx *database.Tx) error {
		userID, err := useEmailToken(ctx, tx, hashToken(token), purposeVerify, t)
		if err != nil {
			return err
		}
		return markEmailVerified(ctx, tx, userID, t)
	})
	if errors.Is(err, apperr.ErrNotFound) {
		return invalidToken("token")
	}
	return err
}

// User returns the account with that ID. An account that no longer exists
// is an apperr.ErrUnauthenticated error: the caller's credential is for it.
func (s *Service) User(ctx context.Context, userID string) (User, error) {
	u, err := userByID(ctx, s.db, userID)
	if errors.Is(err, apperr.ErrNotFound) {
		return User{}, apperr.Wrap(err, apperr.ErrUnauthenticated, "this account no longer exists")
	}
	return u, err
}

// ProfileChange lists the profile fields to change; nil leaves one as is.
type ProfileChange struct {
	Name *string
}

// UpdateProfile applies change to the account and returns it as it is
// then. Called for a login (sessionID not ""), the login must be live, since
// the name goes into the account's security mail; an API key (sessionID "")
// is checked by its scope. A bad field is an *apperr.ValidationError naming
// it.
func (s *Service) UpdateProfile(ctx context.Context, userID, sessionID string, change ProfileChange) (User, error) {
	var v apperr.Validation
	if change.Name != nil {
		name := strings.TrimSpace(*change.Name)
		checkName(&v, "name", name)
		change.Name = &name
	}
	if err := v.Err(); err != nil {
		return User{}, err
	}
	var u User
	err := s.db.Transact(ctx, func(tx *database.Tx) error {
		if sessionID != "" {
			if _, err := s.liveLogin(ctx, tx, userID, sessionID); err != nil {
				return err
			}
		}
		if change.Name != nil {
			if err := updateName(ctx, tx, userID, *change.Name, now()); err != nil {
				return err
			}
		}
		var err error
		u, err = userByID(ctx, tx, userID)
		if errors.Is(err, apperr.ErrNotFound) {
			return apperr.Wrap(err, apperr.ErrUnauthenticated, "this account no longer exists")
		}
		return err
	})
	return u, err
}

// normalizeEmail trims and lower-cases an address, and checks that it is a
// bare address (no display name) of sane length, in ASCII, with a domain
// name of two labels or more. Addresses are ASCII only: an international
// domain is written in its xn-- form, and Unicode local parts, which many
// mail systems cannot deliver to and which let look-alike letters pose as
// another person's address, are refused.
func normalizeEmail(v *apperr.Validation, field, raw string) string {
	email := strings.ToLower(strings.TrimSpace(raw))
	if email == "" {
		v.Add(field, "is required")
		return email
	}
	addr, err := mail.ParseAddress(email)
	at := strings.LastIndexByte(email, '@')
	switch {
	case len(email) > 254 || !printableASCII(email) || err != nil || addr.Address != email || at < 0:
		v.Add(field, "must be an email address such as ada@example.com, in ASCII")
	case !domainName(email[at+1:]):
		v.Add(field, "must have a domain name such as example.com: no IP address or single-label domain")
	}
	return email
}

// printableASCII reports whether s holds only printable ASCII, which also
// rules out invalid UTF-8, control and zero-width characters.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// domainName reports whether d is a DNS name of two labels or more, each of
// letters, digits and inner hyphens: not a [literal] or a single label.
func domainName(d string) bool {
	labels := strings.Split(d, ".")
	// A last label of digits is an IP address (or no domain at all).
	if len(labels) < 2 || len(d) > 253 || strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkName checks a name: one line of 1 to 100 printable characters that
// shows as something (text.CheckLine), so that it cannot pose as something
// else in an email or a page.
func checkName(v *apperr.Validation, field, name string) {
	if msg := text.CheckLine(name, 100); msg != "" {
		v.Add(field, msg)
	}
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

func checkTokenField(field, token string) error {
	var v apperr.Validation
	checkToken(&v, field, token)
	return v.Err()
}

// invalidToken is the answer for a token that is unknown, used or expired:
// one message for all three, since telling them apart helps only a guesser.
func invalidToken(field string) error {
	var v apperr.Validation
	v.Add(field, "is invalid, expired or already used")
	return v.Err()
}

// addFieldErrors adds the field errors of err, a CheckPassword result, under
// field.
func addFieldErrors(v *apperr.Validation, field string, err error) {
	if ve, ok := errors.AsType[*apperr.ValidationError](err); ok {
		for _, f := range ve.Fields {
			v.Add(field, f.Message)
		}
	}
}
