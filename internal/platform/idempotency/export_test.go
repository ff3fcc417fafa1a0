package idempotency

import (
	"context"
	"io/fs"

	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

// TestSchema is the package's one table, from its migrations.
var TestSchema = testkit.Schema{
	Key: "idempotency-" + testkit.FSKey("", Migrations),
	Apply: func(ctx context.Context, db *database.DB) error {
		dir, err := fs.Sub(Migrations, string(db.Dialect()))
		if err != nil {
			return err
		}
		_, err = database.MigrateUp(ctx, db, dir)
		return err
	},
}

// NewCleanupWorker returns the worker Workers registers, for tests to work
// a job without a River client (a platform package's tests may not use
// internal/jobs).
func NewCleanupWorker(s *Store) *CleanupWorker { return &CleanupWorker{store: s} }
