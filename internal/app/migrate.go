package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/migrations"
	"github.com/rightsize/rightsize/internal/platform/config"
	"github.com/rightsize/rightsize/internal/platform/database"
)

// migrateUp applies every pending migration and logs each.
func migrateUp(ctx context.Context, db *database.DB, logger *slog.Logger) error {
	ours, river, err := migrations.Up(ctx, db)
	for _, m := range ours {
		logger.Info("migrated", slog.String("source", "app"), slog.Int64("version", m.Version), slog.String("name", m.Name))
	}
	for _, m := range river {
		logger.Info("migrated", slog.String("source", "river"), slog.Int64("version", m.Version), slog.String("name", m.Name))
	}
	return err
}

// migrate runs `rightsize migrate up|down|status`.
func migrate(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) != 1 || (args[0] != "up" && args[0] != "down" && args[0] != "status") {
		return usagef("migrate wants one of up, down, status (see rightsize help)")
	}
	logger := newLogger(cfg, stdout)
	db, err := openDB(ctx, cfg, logger, nil)
	if err != nil {
		return err
	}
	defer db.Close()

	switch args[0] {
	case "up":
		return migrateUp(ctx, db, logger)
	case "down":
		return database.WithMigrationLock(ctx, db, func() error {
			m, err := database.MigrateDown(ctx, db, migrations.For(db.Dialect()))
			if err != nil {
				return err
			}
			logger.Info("rolled back", slog.Int64("version", m.Version), slog.String("name", m.Name))
			return nil
		})
	}
	ours, err := database.MigrationStatus(ctx, db, migrations.For(db.Dialect()))
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
