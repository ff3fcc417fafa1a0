package billing

import (
	"net/url"
	"strings"
	"time"

	"github.com/rightsize/rightsize/internal/platform/config"
)

// Config is the billing service's configuration. Billing is off (its routes
// answer 503) unless StripeSecretKey is set.
type Config struct {
	StripeSecretKey     string        // STRIPE_SECRET_KEY
	StripeWebhookSecret string        // STRIPE_WEBHOOK_SECRET, required with a key
	StripeAPIURL        string        // STRIPE_API_URL
	ProPriceID          string        // STRIPE_PRICE_PRO, required with a key
	FreeOrdersPerMonth  int           // PLAN_FREE_ORDERS_PER_MONTH, 0 for no limit
	ProOrdersPerMonth   int           // PLAN_PRO_ORDERS_PER_MONTH, 0 for no limit
	GracePeriod         time.Duration // BILLING_GRACE_PERIOD
	ReturnURL           string        // BILLING_RETURN_URL, "" for PUBLIC_URL
}

// Enabled reports whether Stripe is configured.
func (c *Config) Enabled() bool { return c.StripeSecretKey != "" }

// Vars lists the billing service's variables, bound to c's fields.
func (c *Config) Vars() []config.Var {
	return []config.Var{
		{
			Name: "STRIPE_SECRET_KEY", Secret: true,
			Want:        "a Stripe secret or restricted key (sk_... or rk_...)",
			Description: "Stripe API key. Unset, billing is off: its routes answer 503, and no plan limit applies.",
			Parse:       prefixed(&c.StripeSecretKey, "sk_", "rk_"),
		},
		{
			Name: "STRIPE_WEBHOOK_SECRET", Secret: true,
			Want:        "the signing secret of the webhook endpoint (whsec_...)",
			Description: "Verifies the signature of events sent to POST /webhooks/stripe. Required with STRIPE_SECRET_KEY.",
			Parse:       prefixed(&c.StripeWebhookSecret, "whsec_"),
		},
		{
			Name: "STRIPE_API_URL", Default: "https://api.stripe.com",
			Want:        "an http or https URL without a path, such as https://api.stripe.com",
			Description: "Where Stripe's API is: stripe-mock's URL locally (go tool stripe-mock). Always https in production.",
			Parse:       c.setAPIURL,
		},
		{
			Name:        "STRIPE_PRICE_PRO",
			Want:        "a Stripe price ID (price_...)",
			Description: "The recurring price of the pro plan, which checkout subscribes to. Required with STRIPE_SECRET_KEY.",
			Parse:       prefixed(&c.ProPriceID, "price_"),
		},
		{
			Name: "PLAN_FREE_ORDERS_PER_MONTH", Default: "100",
			Want:        "a whole number from 0 to 1000000000; 0 means no limit",
			Description: "Orders a user on the free plan may create per calendar month (UTC).",
			Parse:       config.Int(&c.FreeOrdersPerMonth, 0, 1e9),
		},
		{
			Name: "PLAN_PRO_ORDERS_PER_MONTH", Default: "0",
			Want:        "a whole number from 0 to 1000000000; 0 means no limit",
			Description: "Orders a user on the pro plan may create per calendar month (UTC).",
			Parse:       config.Int(&c.ProOrdersPerMonth, 0, 1e9),
		},
		{
			Name: "BILLING_GRACE_PERIOD", Default: "168h",
			Want:        "a duration from 0s to 2160h, such as 168h",
			Description: "How long a past-due subscription keeps its plan while Stripe retries the payment.",
			Parse:       config.Duration(&c.GracePeriod, 0, 90*24*time.Hour),
		},
		{
			Name:        "BILLING_RETURN_URL",
			Want:        "an absolute http or https URL",
			Description: "The page Stripe Checkout and the Customer Portal send the user back to, with ?checkout=success or ?checkout=cancelled after checkout. Unset, PUBLIC_URL.",
			Parse:       c.setReturnURL,
		},
	}
}

// Check requires the webhook secret and the price with a key, and https to
// Stripe in production.
func (c *Config) Check(k *config.Checks) {
	if !c.Enabled() {
		return
	}
	if c.StripeWebhookSecret == "" {
		k.Fail("STRIPE_WEBHOOK_SECRET", "set with STRIPE_SECRET_KEY: the signing secret of the webhook endpoint (whsec_...)")
	}
	if c.ProPriceID == "" {
		k.Fail("STRIPE_PRICE_PRO", "set with STRIPE_SECRET_KEY: a Stripe price ID (price_...)")
	}
	if k.Production() && !strings.HasPrefix(c.StripeAPIURL, "https://") {
		k.Fail("STRIPE_API_URL", "an https URL in production")
	}
}

func prefixed(dst *string, prefixes ...string) func(string) bool {
	return func(s string) bool {
		for _, p := range prefixes {
			if len(s) > len(p) && len(s) <= 255 && strings.HasPrefix(s, p) && printable(s) {
				*dst = s
				return true
			}
		}
		return false
	}
}

func printable(s string) bool {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func (c *Config) setAPIURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return false
	}
	c.StripeAPIURL = strings.TrimSuffix(s, "/")
	return true
}

func (c *Config) setReturnURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" || !printable(s) {
		return false
	}
	c.ReturnURL = s
	return true
}
