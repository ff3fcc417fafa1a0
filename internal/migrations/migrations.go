// Package migrations embeds the application's schema migrations, one
// directory per SQL dialect, so the binary carries its own schema.
package migrations

import (
	"context"
	"embed"
	"io/fs"

	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/platform/database"
)

//go:embed sqlite postgres
var files embed.FS

// For returns the migrations written for dialect d.
func For(d database.Dialect) fs.FS {
	sub, err := fs.Sub(files, string(d))
	if err != nil {
		panic(err) // only for a dialect with no directory: a programming error
	}
	return sub
}

// Up applies every pending migration: the application's (goose), then
// River's, as two steps because River's cannot run inside goose's. On
// PostgreSQL it holds the migration lock throughout, so instances starting
// together take turns. It returns what each step applied.
func Up(ctx context.Context, db *database.DB) (app, river []database.Migration, err error) {
	err = database.WithMigrationLock(ctx, db, func() error {
		if app, err = database.MigrateUp(ctx, db, For(db.Dialect())); err != nil {
			return err
		}
		river, err = jobs.Migrate(ctx, db)
		return err
	})
	return app, river, err
}
