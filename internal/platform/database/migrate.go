package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"testing/fstest"
	"time"

	"github.com/pressly/goose/v3"
)

// Migration is one schema migration and whether it has been applied.
type Migration struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time // zero unless Applied
}

// migrationLockID is the PostgreSQL advisory lock that makes instances which
// start together take turns migrating. An arbitrary constant, unique to rightsize.
const migrationLockID = 0x7269676874 // "right"

// WithMigrationLock runs fn while holding a database-wide lock, so that of
// several instances starting at once only one migrates at a time. SQLite needs
// no lock of ours: its migrations run in write transactions, which serialize.
//
// The lock is held on a connection of its own, outside the pool, so that fn
// can migrate through the pool even when DB_MAX_OPEN_CONNS is 1.
func WithMigrationLock(ctx context.Context, db *DB, fn func() error) (err error) {
	if db.dialect != Postgres {
		return fn()
	}
	lockDB, err := sql.Open(db.driver, db.dsn)
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer lockDB.Close()
	c, err := lockDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockID); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer func() {
		// A fresh context: the unlock must happen even when ctx has ended.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, uerr := c.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", migrationLockID); uerr != nil {
			err = errors.Join(err, fmt.Errorf("migration unlock: %w", uerr))
		}
	}()
	return fn()
}

// provider returns a goose provider for the .sql files in fsys, or nil if
// fsys has none yet.
func provider(db *DB, fsys fs.FS) (*goose.Provider, error) {
	dialect := goose.DialectSQLite3
	if db.dialect == Postgres {
		dialect = goose.DialectPostgres
	}
	// Out of order: services add migrations independently, so one written
	// earlier may be deployed after a later one of another service.
	p, err := goose.NewProvider(dialect, db.sql, fsys,
		goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true))
	if errors.Is(err, goose.ErrNoMigrations) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// MigrateUp applies every migration in fsys (goose .sql files, numbered) that
// has not been applied yet, in order, and returns the ones it applied.
func MigrateUp(ctx context.Context, db *DB, fsys fs.FS) ([]Migration, error) {
	p, err := provider(db, fsys)
	if p == nil {
		return nil, err
	}
	results, err := p.Up(ctx)
	applied := make([]Migration, 0, len(results))
	for _, r := range results {
		applied = append(applied, Migration{Version: r.Source.Version, Name: r.Source.Path, Applied: true})
	}
	if err != nil {
		return applied, fmt.Errorf("migrate up: %w", err)
	}
	return applied, nil
}

// MigrateDown rolls back the most recently applied migration of fsys and
// returns it. It returns an error if none is applied.
func MigrateDown(ctx context.Context, db *DB, fsys fs.FS) (Migration, error) {
	p, err := provider(db, fsys)
	if err != nil {
		return Migration{}, err
	}
	if p == nil {
		return Migration{}, errors.New("migrate down: there are no migrations")
	}
	r, err := p.Down(ctx)
	if err != nil {
		return Migration{}, fmt.Errorf("migrate down: %w", err)
	}
	return Migration{Version: r.Source.Version, Name: r.Source.Path}, nil
}

// MigrationStatus lists every migration of fsys, applied or not, in order.
func MigrationStatus(ctx context.Context, db *DB, fsys fs.FS) ([]Migration, error) {
	p, err := provider(db, fsys)
	if p == nil {
		return nil, err
	}
	statuses, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	list := make([]Migration, 0, len(statuses))
	for _, s := range statuses {
		list = append(list, Migration{
			Version:   s.Source.Version,
			Name:      s.Source.Path,
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt,
		})
	}
	return list, nil
}

// MergeMigrations returns one directory holding the .sql migrations of every
// set (each a directory of goose files, keyed by its owner's name), so that
// goose applies them all in version order with one version table. Two files
// with the same version are an error naming both.
func MergeMigrations(sets map[string]fs.FS) (fs.FS, error) {
	// An in-memory copy: the files are small and read once at start-up.
	merged := fstest.MapFS{}
	owners := map[int64]string{}
	for _, owner := range slices.Sorted(maps.Keys(sets)) {
		names, err := fs.Glob(sets[owner], "*.sql")
		if err != nil {
			return nil, fmt.Errorf("migrations of %s: %w", owner, err)
		}
		for _, name := range names {
			version, err := goose.NumericComponent(name)
			if err != nil {
				return nil, fmt.Errorf("migrations of %s: %s: %w", owner, name, err)
			}
			if other, dup := owners[version]; dup {
				return nil, fmt.Errorf("migration version %d is used by %s and by %s/%s: name new migrations by their UTC time, YYYYMMDDHHMMSS_what.sql", version, other, owner, name)
			}
			b, err := fs.ReadFile(sets[owner], name)
			if err != nil {
				return nil, fmt.Errorf("migrations of %s: %w", owner, err)
			}
			owners[version] = owner + "/" + name
			merged[name] = &fstest.MapFile{Data: b, Mode: 0o444}
		}
	}
	return merged, nil
}

// EmbeddedMigrations returns the directory dir of fsys, a tree embedded with
// //go:embed, as a service's or a platform part's migrations (its sqlite/ and
// postgres/). A missing directory is a build bug, so it panics.
func EmbeddedMigrations(fsys fs.FS, dir string) fs.FS {
	f, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(fmt.Sprintf("database: embedded migrations %q: %v", dir, err))
	}
	return f
}
