package testkit

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/database"
)

// testDatabaseURL is the one place tests read the environment: the
// PostgreSQL server to test against, if any.
func testDatabaseURL() string { return os.Getenv("TEST_DATABASE_URL") }

// DatabaseURL returns a DATABASE_URL value naming a fresh database of t's
// own holding s, for tests that run the whole program.
func DatabaseURL(t testing.TB, s Schema) string {
	t.Helper()
	o := DBOptions(t, s)
	if o.Dialect == database.SQLite {
		return "sqlite:" + o.DSN
	}
	return o.DSN
}

// NewEmptyDB returns an open handle on a new database of t's own with no
// tables at all, for tests of migrations themselves.
func NewEmptyDB(t testing.TB) *database.DB {
	t.Helper()
	o := database.Options{MaxOpenConns: 4, MaxIdleConns: 4, QueryTimeout: 10 * time.Second, SlowQuery: time.Second}
	dsn := EmptyDatabaseURL(t)
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		o.Dialect, o.DSN = database.SQLite, path
	} else {
		o.Dialect, o.DSN = database.Postgres, dsn
	}
	db := open(t, o)
	t.Cleanup(func() { db.Close() })
	return db
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
