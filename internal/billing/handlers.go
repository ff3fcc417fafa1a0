package billing

import (
	"net/http"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/httpx"
)

// Routes registers the billing service's whole API on mux. The webhook is
// public: it authenticates by Stripe's signature.
func (s *Service) Routes(mux httpx.Router) {
	mux.Handle("GET /v1/billing/plans", s.listPlans())
	mux.Handle("GET /v1/billing/subscription", s.getSubscription())
	mux.Handle("GET /v1/billing/invoices", s.listInvoices())
	mux.Handle("POST /v1/billing/checkout-session", s.checkoutSession())
	mux.Handle("POST /v1/billing/portal-session", s.portalSession())
	mux.Handle("POST /v1/billing/orders/{id}/checkout-session", s.orderCheckoutSession())
	mux.Handle("POST /webhooks/stripe", s.stripeWebhook())
}

// Public lists the webhook, which Stripe calls without our credentials, and
// the plans, for a pricing page.
func (s *Service) Public() []string {
	return []string{"GET /v1/billing/plans", "POST /webhooks/stripe"}
}

type planResponse struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	OrdersPerMonth *int   `json:"orders_per_month"` // null: no limit
}

func toPlanResponse(p Plan) planResponse {
	r := planResponse{ID: p.ID, Name: p.Name}
	if p.OrdersPerMonth > 0 {
		r.OrdersPerMonth = &p.OrdersPerMonth
	}
	return r
}

func (s *Service) listPlans() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.configured(); err != nil {
			return err
		}
		plans := s.Plans()
		out := make([]planResponse, len(plans))
		for i, p := range plans {
			out[i] = toPlanResponse(p)
		}
		httpx.Encode(w, http.StatusOK, map[string]any{"data": out})
		return nil
	})
}

type subscriptionResponse struct {
	Plan planResponse `json:"plan"`
	// The subscription behind the plan, if the user has one (even one
	// that no longer entitles them, such as past due beyond the grace
	// period, or cancelled).
	SubscriptionID    *string    `json:"subscription_id"`
	Status            *string    `json:"status"`
	CurrentPeriodEnd  *time.Time `json:"current_period_end"`
	CancelAtPeriodEnd bool       `json:"cancel_at_period_end"`
}

func (s *Service) getSubscription() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, err := authn.Caller(r.Context())
		if err != nil {
			return err
		}
		st, err := s.Subscription(r.Context(), p.UserID)
		if err != nil {
			return err
		}
		out := subscriptionResponse{Plan: toPlanResponse(st.Plan)}
		if sub := st.Subscription; sub != nil {
			out.SubscriptionID, out.Status = &sub.ID, &sub.Status
			out.CurrentPeriodEnd, out.CancelAtPeriodEnd = sub.CurrentPeriodEnd, sub.CancelAtPeriodEnd
		}
		httpx.Encode(w, http.StatusOK, out)
		return nil
	})
}

type invoiceResponse struct {
	ID               string    `json:"id"`
	Number           string    `json:"number"`
	Status           string    `json:"status"`
	Currency         string    `json:"currency"`
	AmountDue        int64     `json:"amount_due"`
	AmountPaid       int64     `json:"amount_paid"`
	HostedInvoiceURL string    `json:"hosted_invoice_url"`
	CreatedAt        time.Time `json:"created_at"`
}

func (s *Service) listInvoices() http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, err := authn.Caller(r.Context())
		if err != nil {
			return err
		}
		var v apperr.Validation
		if httpx.CheckParams(&v, r.URL.RawQuery, "limit", "cursor"); v.Err() != nil {
			return v.Err()
		}
		page, err := s.pager.Parse(r)
		if err != nil {
			return err
		}
		var after invoicePosition
		ok, err := page.After(&after)
		if err != nil {
			return err
		}
		var at *invoicePosition
		if ok {
			at = &after
		}
		invoices, err := s.Invoices(r.Context(), p.UserID, at, page.Limit+1)
		if err != nil {
			return err
		}
		out := make([]invoiceResponse, len(invoices))
		for i, in := range invoices {
			out[i] = invoiceResponse{ID: in.ID, Number: in.Number, Status: in.Status, Currency: in.Currency,
				AmountDue: in.AmountDue, AmountPaid: in.AmountPaid, HostedInvoiceURL: in.HostedInvoiceURL, CreatedAt: in.CreatedAt}
		}
		httpx.Encode(w, http.StatusOK, httpx.NewList(out, page.Limit, func(in invoiceResponse) any {
			return invoicePosition{CreatedAt: in.CreatedAt, ID: in.ID}
		}, s.pager))
		return nil
	})
}

type sessionResponse struct {
	URL string `json:"url"`
}

// sessionHandler answers 201 with the URL of the Stripe page create makes
// for the caller. A Stripe page takes payment or changes it, so the caller's
// account and login must still be live, not only its access token unexpired:
// a deleted account would otherwise start a subscription nobody can cancel.
func (s *Service) sessionHandler(create func(r *http.Request, userID string) (string, error)) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, err := authn.Caller(r.Context())
		if err != nil {
			return err
		}
		if err := s.loginCheck(r.Context(), p.UserID, p.SessionID); err != nil {
			return err
		}
		url, err := create(r, p.UserID)
		if err != nil {
			return err
		}
		httpx.Encode(w, http.StatusCreated, sessionResponse{URL: url})
		return nil
	})
}

func (s *Service) checkoutSession() http.Handler {
	return s.sessionHandler(func(r *http.Request, userID string) (string, error) {
		return s.CheckoutSubscription(r.Context(), userID)
	})
}

func (s *Service) portalSession() http.Handler {
	return s.sessionHandler(func(r *http.Request, userID string) (string, error) {
		return s.Portal(r.Context(), userID)
	})
}

func (s *Service) orderCheckoutSession() http.Handler {
	return s.sessionHandler(func(r *http.Request, userID string) (string, error) {
		return s.CheckoutOrder(r.Context(), userID, r.PathValue("id"))
	})
}
