package app

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"text/tabwriter"

	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/idempotency"
	"github.com/rightsize/rightsize/internal/service"
)

// platformMigrations are the tables of the platform's own parts, which every
// process has whichever services it mounts.
var platformMigrations = map[string]fs.FS{
	"idempotency": idempotency.Migrations,
}

// schema returns the migrations of every service of catalog for db's
// dialect, merged into one directory: goose applies them in version order
// with one version table, and refuses two files of the same version.
func schema(catalog []service.Def, d database.Dialect) (fs.FS, error) {
	sets := map[string]fs.FS{}
	for name, m := range platformMigrations {
		dir, err := fs.Sub(m, string(d))
		if err != nil {
			return nil, fmt.Errorf("migrations of %s: %w", name, err)
		}
		sets[name] = dir
	}
	for _, def := range catalog {
		if def.Migrations == nil {
			continue
		}
		dir, err := fs.Sub(def.Migrations, string(d))
		if err != nil {
			return nil, fmt.Errorf("migrations of %s: %w", def.Name, err)
		}
		sets[def.Name] = dir
	}
	return database.MergeMigrations(sets)
}

// Migrate applies every pending migration of every service of the catalog,
// then River's, as two steps because River's cannot run inside goose's. On
// PostgreSQL it holds the migration lock throughout, so instances starting
// together take turns. It returns what each step applied.
func Migrate(ctx context.Context, db *database.DB) (ours, river []database.Migration, err error) {
	return migrateAll(ctx, db, catalog)
}

func migrateAll(ctx context.Context, db *database.DB, catalog []service.Def) (ours, river []database.Migration, err error) {
	fsys, err := schema(catalog, db.Dialect())
	if err != nil {
		return nil, nil, err
	}
	err = database.WithMigrationLock(ctx, db, func() error {
		if ours, err = database.MigrateUp(ctx, db, fsys); err != nil {
			return err
		}
		river, err = jobs.Migrate(ctx, db)
		return err
	})
	return ours, river, err
}

// migrateUp applies every pending migration and logs each, at DEBUG when
// quiet (in development, where a first start would print a dozen lines)
// with one INFO line counting them.
func migrateUp(ctx context.Context, db *database.DB, catalog []service.Def, logger *slog.Logger, quiet bool) error {
	ours, river, err := migrateAll(ctx, db, catalog)
	level := slog.LevelInfo
	if quiet {
		level = slog.LevelDebug
	}
	for _, m := range ours {
		logger.Log(ctx, level, "migrated", slog.String("source", "app"), slog.Int64("version", m.Version), slog.String("name", m.Name))
	}
	for _, m := range river {
		logger.Log(ctx, level, "migrated", slog.String("source", "river"), slog.Int64("version", m.Version), slog.String("name", m.Name))
	}
	if quiet && len(ours)+len(river) > 0 {
		logger.Info("migrations applied", slog.Int("app", len(ours)), slog.Int("river", len(river)))
	}
	return err
}

// migrate runs `rightsize migrate up|down|status`.
func migrate(ctx context.Context, cfg *loaded, args []string, stdout io.Writer) error {
	logger := newLogger(cfg.platform, stdout)
	db, err := openDB(ctx, cfg.platform, logger, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	fsys, err := schema(cfg.catalog, db.Dialect())
	if err != nil {
		return err
	}

	switch args[0] {
	case "up":
		return migrateUp(ctx, db, cfg.catalog, logger, false)
	case "down":
		return database.WithMigrationLock(ctx, db, func() error {
			m, err := database.MigrateDown(ctx, db, fsys)
			if err != nil {
				return err
			}
			logger.Info("rolled back", slog.Int64("version", m.Version), slog.String("name", m.Name))
			return nil
		})
	}
	ours, err := database.MigrationStatus(ctx, db, fsys)
	if err != nil {
		return err
	}
	river, err := jobs.MigrationStatus(ctx, db)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tVERSION\tNAME\tSTATE")
	for _, list := range []struct {
		source string
		ms     []database.Migration
	}{{"app", ours}, {"river", river}} {
		for _, m := range list.ms {
			state := "pending"
			if m.Applied {
				state = "applied"
				if !m.AppliedAt.IsZero() {
					state += " " + m.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
				}
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", list.source, m.Version, m.Name, state)
		}
	}
	return tw.Flush()
}

// MigrationFiles returns the migrations of every service of the catalog,
// each with a sqlite/ and a postgres/ directory, for keying test schemas.
func MigrationFiles() []fs.FS {
	var out []fs.FS
	for _, def := range catalog {
		if def.Migrations != nil {
			out = append(out, def.Migrations)
		}
	}
	return out
}
