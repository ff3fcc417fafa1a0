package testkit

import (
	"net"
	"os"
	"testing"

	"github.com/rightsize/rightsize/internal/platform/database"
)

// testDatabaseURL is the one place tests read the environment: the
// PostgreSQL server to test against, if any.
func testDatabaseURL() string { return os.Getenv("TEST_DATABASE_URL") }

// DatabaseURL returns a DATABASE_URL value naming a fresh, migrated database of
// t's own, for tests that run the whole program.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	o := DBOptions(t)
	if o.Dialect == database.SQLite {
		return "sqlite:" + o.DSN
	}
	return o.DSN
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for a
// program under test that takes its port as a number (PORT).
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
