package app

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

func run(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := Run(context.Background(), append([]string{"rightsize"}, args...), func(k string) string { return env[k] }, nil, &out, io.Discard)
	return out.String(), err
}

// help env lists every variable of the platform, of app and of every
// service, with its default: a container has no README.
func TestHelpEnvListsEveryVariable(t *testing.T) {
	t.Parallel()
	out, err := run(t, nil, "help", "env")
	if err != nil {
		t.Fatal(err)
	}
	vars := describe(catalog)
	if len(vars) < 30 {
		t.Fatalf("describe found %d variables, want the platform's, app's and every service's", len(vars))
	}
	for _, name := range []string{"PORT", "AUTH_SIGNING_KEY", "RATE_LIMIT_API", "ACCESS_TOKEN_TTL", "RATE_LIMIT_ACCOUNT", "LOG_FORMAT"} {
		if !strings.Contains(out, "\n"+name+"=") && !strings.HasPrefix(out, name+"=") {
			t.Errorf("help env does not list %s", name)
		}
	}
	for _, v := range vars {
		def := v.Default
		if def == "" {
			def = "(empty)"
		}
		if !strings.Contains(out, v.Name+"="+def) || !strings.Contains(out, v.Description) {
			t.Errorf("help env lacks %s=%s with its description", v.Name, def)
		}
	}
}

// config prints the settings in effect, every section's, secrets masked.
func TestConfigCommandMasksSecrets(t *testing.T) {
	t.Parallel()
	const (
		dbPassword = "hunter2-db-password"
		cursor     = "k3J9vQ2xLr8TzW5mN7pB4sYcF6hD1gAe-cursor"
	)
	out, err := run(t, map[string]string{
		"DATABASE_URL":     "postgres://app:" + dbPassword + "@db.internal:5432/app",
		"CURSOR_SECRET":    cursor,
		"AUTH_SIGNING_KEY": "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
		"ACCESS_TOKEN_TTL": "5m",
	}, "config")
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{dbPassword, cursor, "AQIDBAUGBwgJ"} {
		if strings.Contains(out, secret) {
			t.Errorf("config shows a secret %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"postgres://app:xxxxx@db.internal:5432/app", "ACCESS_TOKEN_TTL", "5m", "environment", "RATE_LIMIT_ACCOUNT", "5/min", "default"} {
		if !strings.Contains(out, want) {
			t.Errorf("config lacks %q:\n%s", want, out)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := run(t, nil, args...)
		if err != nil || !strings.HasPrefix(out, "rightsize ") || !strings.Contains(out, "go1.") {
			t.Errorf("%v: got %q, %v; want rightsize VERSION (…, goVERSION)", args, out, err)
		}
	}
}
