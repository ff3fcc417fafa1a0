package auth

import (
	"fmt"
	"net/url"

	"github.com/rightsize/rightsize/internal/platform/mail"
)

// The emails the service sends. None carries a secret but the single-use
// links, which only the workers make; a message to an address that has not
// been verified never carries the account's name, which anyone could have
// typed into a signup.

func link(publicURL, path, token string) string {
	return publicURL + path + "?token=" + url.QueryEscape(token)
}

func verifyMessage(u User, link string) mail.Message {
	return mail.Message{
		To:      u.Email,
		Subject: "Please verify your email",
		Text: "Hello,\n\nSomeone, probably you, signed up with this email address. To verify it, open this link within 48 hours:\n\n" +
			link + "\n\nIf you did not sign up, ignore this message: without the link, the account is deleted in two days.\n",
	}
}

func resetMessage(u User, link string) mail.Message {
	return mail.Message{
		To:      u.Email,
		Subject: "Reset your password",
		Text: "Hello,\n\nTo choose a new password, open this link within an hour:\n\n" +
			link + "\n\nIf you did not ask for this, ignore this message: your password is unchanged.\n",
	}
}

// existingAccountMessage goes to the owner of an email when someone signs up
// with it again: the signup answer cannot say "taken" without telling an
// attacker which addresses have accounts.
func existingAccountMessage(email, publicURL string) mail.Message {
	return mail.Message{
		To:      email,
		Subject: "You already have an account",
		Text: "Hello,\n\nSomeone, probably you, tried to sign up with this email address, which already has an account.\n" +
			"To log in, go to " + publicURL + "/login. If you forgot your password, reset it there.\n\n" +
			"If this was not you, ignore this message.\n",
	}
}

// securityMessage tells the owner of a verified address that something
// changed on the account, and what to do if it was not them.
func securityMessage(u User, subject, what, publicURL string) mail.Message {
	return mail.Message{
		To:      u.Email,
		Subject: subject,
		Text: "Hello " + u.Name + ",\n\n" + what + "\n\nIf this was not you, reset your password now at " +
			publicURL + "/reset-password: a reset signs out every login and revokes the API keys they made.\n",
	}
}

func keyCreatedMessage(u User, k APIKey, publicURL string) mail.Message {
	return securityMessage(u, "A new API key was created",
		fmt.Sprintf("A new API key, %q (%s…, scope %s), was created on your account.", k.Name, k.Prefix, k.Scope), publicURL)
}

func passwordChangedMessage(u User, publicURL string) mail.Message {
	return securityMessage(u, "Your password was changed",
		"Your password was changed, and every other login was signed out.", publicURL)
}

func passwordResetMessage(u User, revokedKeys int64, publicURL string) mail.Message {
	what := "Your password was reset with a link sent to this address. Every login was signed out"
	if revokedKeys > 0 {
		what += fmt.Sprintf(", and all %d API key(s) of the account were revoked: make new ones for the integrations that are yours", revokedKeys)
	}
	return securityMessage(u, "Your password was reset", what+".", publicURL)
}

func failedLoginsMessage(u User, n int, publicURL string) mail.Message {
	what := fmt.Sprintf("There were %d failed attempts in a row to log in to your account.", n)
	if n >= maxFailedLogins {
		what += " Password logins are now locked: reset your password to unlock them."
	}
	return securityMessage(u, "Failed logins on your account", what, publicURL)
}
