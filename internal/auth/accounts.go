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
	mailer "github.com/rightsize/rightsize/internal/platform/mail"
)

// SignUp creates an unverified account and queues its verification mail, in
// one transaction. If email already has an account it mails the owner
// instead. Both cases take the same password-hashing work and return nil, so
// the caller cannot tell them apart, nor let a client do so.
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
	hash, err := HashPassword(password, DefaultPasswordParams)
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
		return s.jobs.InsertTx(ctx, tx, mailer.SendArgs{Message: existingAccountMessage(email, s.publicURL)}, nil)
	})
}

// VerifyEmail uses up a verification token and marks its account's address
// verified. An unknown, used or expired token is an *apperr.ValidationError
// on "token".
func (s *Service) VerifyEmail(ctx context.Context, token string) error {
	if err := checkTokenField("token", token); err != nil {
		return err
	}
	t := now()
	err := s.db.Transact(ctx, func(tx *database.Tx) error {
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

// User returns the account with that ID, or an apperr.ErrNotFound error.
func (s *Service) User(ctx context.Context, userID string) (User, error) {
	return userByID(ctx, s.db, userID)
}

// ProfileChange lists the profile fields to change; nil leaves one as is.
type ProfileChange struct {
	Name *string
}

// UpdateProfile applies change to the account and returns it as it is
// then. A bad field is an *apperr.ValidationError naming it.
func (s *Service) UpdateProfile(ctx context.Context, userID string, change ProfileChange) (User, error) {
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
		if change.Name != nil {
			if err := updateName(ctx, tx, userID, *change.Name, now()); err != nil {
				return err
			}
		}
		var err error
		u, err = userByID(ctx, tx, userID)
		return err
	})
	return u, err
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

func checkName(v *apperr.Validation, field, name string) {
	n := utf8.RuneCountInString(name)
	v.Check(n >= 1 && n <= 100, field, "must be 1 to 100 characters")
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
