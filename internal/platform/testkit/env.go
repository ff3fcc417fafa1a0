package testkit

import "os"

// testDatabaseURL is the one place tests read the environment: the
// PostgreSQL server to test against, if any.
func testDatabaseURL() string { return os.Getenv("TEST_DATABASE_URL") }
