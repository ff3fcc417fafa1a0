package app

import (
	"context"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

// migrationName is how a migration is named: its UTC creation time, so
// that two services adding one on the same day cannot collide. Version 1,
// the auth service's first, predates the rule and keeps its number, since
// databases already record it.
var migrationName = regexp.MustCompile(`^(\d{14})_[a-z0-9_]+\.sql$`)

// Every service's migrations exist for both dialects under the same names,
// are named by timestamp, and merge without a clash.
func TestMigrationFiles(t *testing.T) {
	t.Parallel()
	for _, def := range catalog {
		if def.Migrations == nil {
			continue
		}
		names := map[database.Dialect][]string{}
		for _, d := range []database.Dialect{database.SQLite, database.Postgres} {
			list, err := fs.Glob(def.Migrations, string(d)+"/*.sql")
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range list {
				names[d] = append(names[d], filepath.Base(p))
			}
		}
		if !slices.Equal(names[database.SQLite], names[database.Postgres]) {
			t.Errorf("%s: sqlite/ holds %v, postgres/ holds %v: want the same migrations in both", def.Name, names[database.SQLite], names[database.Postgres])
		}
		for _, name := range names[database.SQLite] {
			if name == "00001_auth.sql" && def.Name == "auth" {
				continue
			}
			m := migrationName.FindStringSubmatch(name)
			if m == nil {
				t.Errorf("%s/%s: want YYYYMMDDHHMMSS_what.sql (UTC time of writing)", def.Name, name)
				continue
			}
			if _, err := time.Parse("20060102150405", m[1]); err != nil {
				t.Errorf("%s/%s: %s is not a time: %v", def.Name, name, m[1], err)
			}
		}
	}
	for _, d := range []database.Dialect{database.SQLite, database.Postgres} {
		if _, err := schema(catalog, d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
}

// The two dialects' migrations build the same tables with the same columns.
// It needs both databases, so it runs in the PostgreSQL pass of the tests
// (CI's second run); the SQLite pass checks the files above.
func TestMigrationParity(t *testing.T) {
	t.Parallel()
	if testkit.Dialect() != database.Postgres {
		t.Skip("compares SQLite with PostgreSQL: set TEST_DATABASE_URL (CI's PostgreSQL pass runs it)")
	}
	ctx := context.Background()
	lite, err := database.Open(ctx, database.Options{Dialect: database.SQLite, DSN: filepath.Join(t.TempDir(), "parity.db"), MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	if _, _, err := Migrate(ctx, lite); err != nil {
		t.Fatal(err)
	}
	pg := testkit.NewDB(t, testSchema)

	got := map[database.Dialect][]string{}
	for _, db := range []*database.DB{lite, pg} {
		cols, err := columns(ctx, db)
		if err != nil {
			t.Fatalf("%s: %v", db.Dialect(), err)
		}
		got[db.Dialect()] = cols
	}
	if len(got[database.SQLite]) == 0 {
		t.Fatal("no tables found on SQLite")
	}
	if !slices.Equal(got[database.SQLite], got[database.Postgres]) {
		t.Errorf("tables and columns differ:\nsqlite:   %v\npostgres: %v", got[database.SQLite], got[database.Postgres])
	}
}

// testSchema is apptest.Schema, which this package's own tests cannot import.
var testSchema = testkit.Schema{
	Key: "app-" + testkit.FSKey(testkit.ModuleVersion("github.com/riverqueue/river"), MigrationFiles()...),
	Apply: func(ctx context.Context, db *database.DB) error {
		_, _, err := Migrate(ctx, db)
		return err
	},
}

// columns lists "table.column" for every table of ours (not River's or
// goose's), sorted.
func columns(ctx context.Context, db *database.DB) ([]string, error) {
	query := `SELECT table_name || '.' || column_name FROM information_schema.columns WHERE table_schema = current_schema()`
	if db.Dialect() == database.SQLite {
		query = `SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'`
	}
	rows, err := db.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		if strings.HasPrefix(c, "river_") || strings.HasPrefix(c, "goose_") || strings.HasPrefix(c, "sqlite_") {
			continue
		}
		out = append(out, c)
	}
	slices.Sort(out)
	return out, rows.Err()
}
