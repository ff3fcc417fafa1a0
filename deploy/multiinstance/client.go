package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// client talks to the load balancer. It never retries: a request that Go's
// transport would silently send again on a fresh connection (it does so for
// a GET, or a POST with an Idempotency-Key, whose reused connection failed)
// is reported as retried, and the proof counts it as a failure.
type client struct {
	base string
	http *http.Client
}

func newClient(base string) *client {
	return &client{base: base, http: &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     30 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// response is what the proof reads of an answer.
type response struct {
	status  int
	header  http.Header
	body    []byte
	retried bool // the transport sent it on more than one connection
}

// do sends one request; body, if not nil, is sent as JSON.
func (c *client) do(ctx context.Context, method, path, token string, body any, header map[string]string) (response, error) {
	var rd io.Reader
	if ch, ok := body.(chunked); ok {
		rd = ch // not a *bytes.Reader: no Content-Length
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(b)
	}
	conns := 0
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { conns++ }})
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return response{retried: conns > 1}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b, retried: conns > 1}, err
}

// expect sends a request and fails unless it is answered with status (and
// was not retried); it decodes a JSON answer into out if out is not nil.
func (c *client) expect(ctx context.Context, status int, method, path, token string, body any, header map[string]string, out any) (response, error) {
	r, err := c.do(ctx, method, path, token, body, header)
	if err != nil {
		return r, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if r.status != status || r.retried {
		return r, fmt.Errorf("%s %s: status %d (retried: %t), want %d: %s", method, path, r.status, r.retried, status, bytes.TrimSpace(r.body))
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			return r, fmt.Errorf("%s %s: %w: %s", method, path, err, r.body)
		}
	}
	return r, nil
}

// checkRouting checks that Caddy sends each path to its service, from the
// access logs of the instances.
func checkRouting(ctx context.Context, c *client, procs map[string]*proc) error {
	for _, tc := range []struct {
		path     string
		status   int // 0: any
		services []string
	}{
		{"/.well-known/jwks.json", 200, []string{"auth"}},
		{"/login", 200, []string{"auth"}},
		{"/v1/me", 401, []string{"auth"}},
		{"/v1/api-keys", 401, []string{"auth"}},
		{"/v1/billing/plans", 0, []string{"billing"}},
		{"/v1/orders", 401, []string{"api-1", "api-2"}},
		{"/openapi.json", 200, []string{"api-1", "api-2"}},
	} {
		r, err := c.do(ctx, http.MethodGet, tc.path, "", nil, nil)
		if err != nil {
			return fmt.Errorf("GET %s: %w", tc.path, err)
		}
		if tc.status != 0 && r.status != tc.status {
			return fmt.Errorf("GET %s: status %d, want %d: %s", tc.path, r.status, tc.status, r.body)
		}
		if err := waitLogged(ctx, tc.path, tc.services, procs); err != nil {
			return err
		}
		if tc.path == "/openapi.json" && (!bytes.Contains(r.body, []byte(`"/v1/orders"`)) || bytes.Contains(r.body, []byte(`"/v1/auth/signup"`))) {
			return fmt.Errorf("GET /openapi.json: not the api service's document alone")
		}
	}

	// The instances believe one proxy (TRUSTED_PROXY_COUNT=1): Caddy must
	// add the client's address to X-Forwarded-For, or the one a client
	// forged would be taken as its address.
	r, err := c.do(ctx, http.MethodGet, "/v1/orders", "", nil, map[string]string{"X-Forwarded-For": "203.0.113.9"})
	if err != nil {
		return err
	}
	id := r.header.Get("X-Request-ID")
	deadline := time.Now().Add(2 * time.Second)
	for {
		var ip string
		for _, name := range []string{"api-1", "api-2"} {
			lines, _ := procs[name].logLines()
			for _, l := range lines {
				if l.Msg == "request" && l.RequestID == id {
					ip = l.ClientIP
				}
			}
		}
		if ip == "127.0.0.1" {
			return nil
		}
		if ip != "" || time.Now().After(deadline) {
			return fmt.Errorf("a request with a forged X-Forwarded-For through Caddy was logged with client_ip %q, want 127.0.0.1 (request %s)", ip, id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLogged waits up to 2 s for one of services to log a request for path
// (the access log line is written as the response ends), and fails if any
// other instance logged it.
func waitLogged(ctx context.Context, path string, services []string, procs map[string]*proc) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		var by []string
		for name, p := range procs {
			lines, _ := p.logLines()
			for _, l := range lines {
				if l.Msg == "request" && l.Path == path {
					by = append(by, name)
					break
				}
			}
		}
		for _, name := range by {
			if !slices.Contains(services, name) {
				return fmt.Errorf("GET %s reached %s, want %s", path, name, strings.Join(services, " or "))
			}
		}
		if len(by) > 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("GET %s: no instance of %s logged it", path, strings.Join(services, " or "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// account is the user the proof signs up, and the orders its flow made.
type account struct {
	email, password, token string
	flowOrders             []string
}

type order struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

var verifyLink = regexp.MustCompile(`(https?://[^\s"<>]+)/verify-email\?token=([A-Za-z0-9_\-.~%]+)`)

// chunked is a request body sent without a Content-Length.
type chunked struct{ io.Reader }

// signUp runs the user's first steps, all through the load balancer: sign
// up, read the verification link in the mail the worker sent, verify, log in,
// make orders (one twice, with the same Idempotency-Key) and list them a
// page at a time.
func signUp(ctx context.Context, c *client, mail *mailSink) (*account, error) {
	a := &account{
		email:    "proof-" + randomHex(6) + "@example.com",
		password: "proof " + randomHex(12),
	}
	if _, err := c.expect(ctx, http.StatusAccepted, "POST", "/v1/auth/signup", "",
		map[string]string{"email": a.email, "password": a.password, "name": "Proof"}, nil, nil); err != nil {
		return nil, err
	}
	text, err := mail.await(ctx, a.email)
	if err != nil {
		return nil, err
	}
	m := verifyLink.FindStringSubmatch(text)
	if m == nil {
		return nil, fmt.Errorf("no verification link in the mail to %s:\n%s", a.email, text)
	}
	if m[1] != c.base {
		return nil, fmt.Errorf("the verification link points at %s, want PUBLIC_URL %s", m[1], c.base)
	}
	token, err := url.QueryUnescape(m[2])
	if err != nil {
		return nil, err
	}
	if r, err := c.do(ctx, "POST", "/v1/auth/verify-email", "", map[string]string{"token": token, "password": a.password}, nil); err != nil || r.status/100 != 2 || r.retried {
		return nil, fmt.Errorf("POST /v1/auth/verify-email: %d %v: %s", r.status, err, r.body)
	}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	if _, err := c.expect(ctx, http.StatusOK, "POST", "/v1/auth/login", "",
		map[string]string{"email": a.email, "password": a.password}, nil, &login); err != nil {
		return nil, err
	}
	a.token = login.AccessToken

	// A body over the limit (1 MiB) is refused: Caddy refuses one whose
	// Content-Length says so, rightsize a chunked one. Neither costs the
	// instances anything in Caddy's passive health checks (the burst's
	// balance check would see an instance taken out).
	big := newOrder(0)
	big["items"].([]map[string]any)[0]["name"] = strings.Repeat("x", 2<<20)
	for i := range 4 {
		var body any = big
		if i%2 == 1 {
			b, _ := json.Marshal(big)
			body = chunked{bytes.NewReader(b)}
		}
		if _, err := c.expect(ctx, http.StatusRequestEntityTooLarge, "POST", "/v1/orders", a.token, body,
			map[string]string{"Idempotency-Key": fmt.Sprint("too-large-", i)}, nil); err != nil {
			return nil, fmt.Errorf("a body over 1 MiB (chunked: %t): %w", i%2 == 1, err)
		}
	}

	for i := range 3 {
		var o order
		if _, err := c.expect(ctx, http.StatusCreated, "POST", "/v1/orders", a.token, newOrder(i),
			map[string]string{"Idempotency-Key": "flow-" + fmt.Sprint(i)}, &o); err != nil {
			return nil, err
		}
		a.flowOrders = append(a.flowOrders, o.ID)
	}
	// The same key again, most likely on the other instance: the first
	// answer, not a second order.
	var again order
	r, err := c.expect(ctx, http.StatusCreated, "POST", "/v1/orders", a.token, newOrder(2),
		map[string]string{"Idempotency-Key": "flow-2"}, &again)
	if err != nil {
		return nil, err
	}
	if again.ID != a.flowOrders[2] || r.header.Get("Idempotent-Replayed") != "true" {
		return nil, fmt.Errorf("a create retried with its Idempotency-Key made order %s (replayed: %q), want the first answer, %s",
			again.ID, r.header.Get("Idempotent-Replayed"), a.flowOrders[2])
	}
	// Two pages: the second page's cursor, signed by one instance, is
	// read by whichever gets the request.
	var listed []string
	path := "/v1/orders?limit=2"
	for range 3 {
		var page struct {
			Data       []order `json:"data"`
			NextCursor *string `json:"next_cursor"`
		}
		if _, err := c.expect(ctx, http.StatusOK, "GET", path, a.token, nil, nil, &page); err != nil {
			return nil, err
		}
		for _, o := range page.Data {
			listed = append(listed, o.ID)
		}
		if page.NextCursor == nil || *page.NextCursor == "" {
			break
		}
		path = "/v1/orders?limit=2&cursor=" + url.QueryEscape(*page.NextCursor)
	}
	want := slices.Clone(a.flowOrders)
	slices.Sort(want)
	slices.Sort(listed)
	if !slices.Equal(listed, want) {
		return nil, fmt.Errorf("GET /v1/orders listed %v, want %v", listed, want)
	}
	return a, nil
}

func newOrder(i int) map[string]any {
	return map[string]any{
		"currency": "EUR",
		"items": []map[string]any{
			{"sku": fmt.Sprintf("BOOK-%d", i%7), "name": "A book", "quantity": 1 + i%3, "unit_amount": 1250},
		},
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
