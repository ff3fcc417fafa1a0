package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// healthcheck is `rightsize healthcheck [/ready|/health]`: it asks the server
// in this container for the path (default /ready) on 127.0.0.1:PORT and
// succeeds on 200 only. It is for runtimes that probe from inside the
// container (Docker's HEALTHCHECK, ECS container health checks), since the
// distroless image has no shell or curl. Every failure exits 1, bad
// arguments and environment included: Docker reserves exit status 2.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	path := "/ready"
	switch {
	case len(args) == 1 && (args[0] == "/ready" || args[0] == "/health"):
		path = args[0]
	case len(args) > 0:
		return fmt.Errorf("healthcheck takes /ready (the default) or /health, not %q", strings.Join(args, " "))
	}
	// The environment the server was started with, read as the server
	// reads it, so PORT means the same port to both.
	cfg, err := load(getenv, catalog)
	if err != nil {
		return fmt.Errorf("healthcheck: %v", err) // %v: not a usage error, which exits 2
	}
	port := cfg.platform.Port
	scheme, transport := "http", http.DefaultTransport.(*http.Transport).Clone()
	if cfg.platform.TLSCertFile != "" {
		// The server's certificate names the public host, not 127.0.0.1;
		// this asks only whether our own process answers.
		scheme = "https"
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback, our own server
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := fmt.Sprintf("%s://127.0.0.1:%d%s", scheme, port, path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "rightsize-healthcheck")
	client := &http.Client{
		Transport: transport,
		// The answer is our server's own: a redirect is not a 200, and is
		// never followed off loopback.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	fmt.Fprintf(stdout, "%s answered %s\n", url, resp.Status)
	return nil
}
