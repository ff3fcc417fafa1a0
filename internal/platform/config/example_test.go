package config_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/rightsize/rightsize/internal/platform/config"
)

// searchConfig is a service's section: its settings, with the variables that
// fill them.
type searchConfig struct {
	APIKey  string
	Timeout time.Duration
}

func (s *searchConfig) Vars() []config.Var {
	return []config.Var{
		{
			Name:        "SEARCH_API_KEY",
			Want:        "an API key",
			Description: "Key for the search provider. Required in production.",
			Secret:      true,
			Parse:       func(v string) bool { s.APIKey = v; return true },
		},
		{
			Name: "SEARCH_TIMEOUT", Default: "3s",
			Want:        "a duration from 100ms to 30s",
			Description: "Deadline for one search.",
			Parse:       config.Duration(&s.Timeout, 100*time.Millisecond, 30*time.Second),
		},
	}
}

// Check makes the key required in production.
func (s *searchConfig) Check(k *config.Checks) {
	if k.Production() && !k.Given("SEARCH_API_KEY") {
		k.Fail("SEARCH_API_KEY", "an API key (required when ENV=production)")
	}
}

func ExampleLoad() {
	getenv := func(name string) string {
		return map[string]string{
			"PORT":         "3000",
			"DATABASE_URL": "postgres://app:s3cret@db.internal:5432/app",
		}[name]
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Addr(), cfg.DBDialect, cfg.Production())
	// Output: :3000 postgres false
}

func ExampleLoad_errors() {
	getenv := func(name string) string {
		return map[string]string{
			"PORT":             "0",
			"SHUTDOWN_TIMEOUT": "ten",
			"CURSOR_SECRET":    "changeme",
		}[name]
	}
	_, err := config.Load(getenv)
	fmt.Println(err)
	// Output:
	// PORT: invalid value "0": want an integer from 1 to 65535
	// SHUTDOWN_TIMEOUT: invalid value "ten": want a duration greater than zero, such as 15s
	// CURSOR_SECRET: invalid value (redacted): want a random key of at least 32 bytes
}

func ExampleLoad_section() {
	getenv := func(name string) string {
		return map[string]string{
			"PORT":           "3000",
			"SEARCH_API_KEY": "sk-live-0123456789",
		}[name]
	}
	var search searchConfig
	cfg, err := config.Load(getenv, &search)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Addr(), search.Timeout, len(search.APIKey))
	for _, s := range cfg.Settings() {
		if strings.HasPrefix(s.Name, "SEARCH_") {
			fmt.Printf("%s=%s default=%v\n", s.Name, s.Value, s.Default)
		}
	}

	// A section's variables are checked with the platform's, in one error.
	_, err = config.Load(func(name string) string {
		return map[string]string{"PORT": "0", "SEARCH_TIMEOUT": "1m"}[name]
	}, &searchConfig{})
	fmt.Println(err)
	// Output:
	// :3000 3s 18
	// SEARCH_API_KEY=(redacted) default=false
	// SEARCH_TIMEOUT=3s default=true
	// PORT: invalid value "0": want an integer from 1 to 65535
	// SEARCH_TIMEOUT: invalid value "1m": want a duration from 100ms to 30s
}
