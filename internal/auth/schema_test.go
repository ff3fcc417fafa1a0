package auth

import (
	"context"
	"io/fs"
	"testing"

	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

// testSchema is what the tests inside the package need: auth's own tables,
// from its migrations, and River's, since the operations insert jobs. They
// cannot use apptest's (apptest imports app, which imports auth).
var testSchema = testkit.Schema{
	Key: "auth-" + testkit.FSKey(testkit.ModuleVersion("github.com/riverqueue/river"), migrations),
	Apply: func(ctx context.Context, db *database.DB) error {
		dir, err := fs.Sub(migrations, string(db.Dialect()))
		if err != nil {
			return err
		}
		if _, err := database.MigrateUp(ctx, db, dir); err != nil {
			return err
		}
		_, err = jobs.Migrate(ctx, db)
		return err
	},
}

// newTestDB returns a fresh database of tb's own holding testSchema.
func newTestDB(tb testing.TB) *database.DB {
	tb.Helper()
	return testkit.NewDB(tb, testSchema)
}
