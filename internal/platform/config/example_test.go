package config_test

import (
	"fmt"

	"github.com/rightsize/rightsize/internal/platform/config"
)

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
