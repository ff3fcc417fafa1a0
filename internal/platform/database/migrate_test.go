package database_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

func sqlFile(up, down string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("-- +goose Up\n" + up + "\n-- +goose Down\n" + down + "\n")}
}

// Two services' migrations interleave by version: each of the later ones
// needs the one before it, whichever service wrote it.
var (
	accountsMigrations = fstest.MapFS{
		"20240101000000_accounts.sql": sqlFile(
			"CREATE TABLE accounts (id INTEGER PRIMARY KEY);",
			"DROP TABLE accounts;"),
		"20240103000000_first_account.sql": sqlFile(
			"INSERT INTO accounts (id) VALUES (1);\nINSERT INTO plans (id, name) VALUES (1, 'free');",
			"DELETE FROM accounts;"),
		"README.md": {Data: []byte("not a migration")},
	}
	billingMigrations = fstest.MapFS{
		"20240102000000_plans.sql": sqlFile(
			"INSERT INTO accounts (id) VALUES (0);\nCREATE TABLE plans (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
			"DROP TABLE plans;"),
	}
)

func versions(ms []database.Migration) string {
	var s []string
	for _, m := range ms {
		s = append(s, fmt.Sprint(m.Version))
	}
	return strings.Join(s, " ")
}

func TestMergeMigrationsAppliesInVersionOrder(t *testing.T) {
	t.Parallel()
	merged, err := database.MergeMigrations(map[string]fs.FS{"accounts": accountsMigrations, "billing": billingMigrations})
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(merged, "*")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"20240101000000_accounts.sql", "20240102000000_plans.sql", "20240103000000_first_account.sql"}
	if !slices.Equal(names, want) {
		t.Errorf("merged files: got %q, want %q (the .sql files of both, nothing else)", names, want)
	}
	b, err := fs.ReadFile(merged, "20240102000000_plans.sql")
	if err != nil || string(b) != string(billingMigrations["20240102000000_plans.sql"].Data) {
		t.Errorf("merged plans migration: got %q, %v; want billing's file unchanged", b, err)
	}

	db := testkit.NewEmptyDB(t)
	ctx := context.Background()
	applied, err := database.MigrateUp(ctx, db, merged)
	if err != nil {
		t.Fatalf("migrate up: %v (applied %s)", err, versions(applied))
	}
	if got, want := versions(applied), "20240101000000 20240102000000 20240103000000"; got != want {
		t.Errorf("applied %s, want %s: version order across both services", got, want)
	}
	var accounts, plans int
	if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM plans)`).Scan(&accounts, &plans); err != nil {
		t.Fatal(err)
	}
	if accounts != 2 || plans != 1 {
		t.Errorf("got %d accounts and %d plans, want 2 and 1", accounts, plans)
	}
	status, err := database.MigrationStatus(ctx, db, merged)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range status {
		if !m.Applied {
			t.Errorf("migration %d %s not applied", m.Version, m.Name)
		}
	}
}

// A service's migration may be older than one of another service's that a
// deployment has already applied: it still applies, out of order.
func TestMergeMigrationsLateOlderMigrationApplies(t *testing.T) {
	t.Parallel()
	first := fstest.MapFS{
		"20240101000000_accounts.sql": accountsMigrations["20240101000000_accounts.sql"],
		"20240103000000_audit.sql":    sqlFile("CREATE TABLE audit (id INTEGER PRIMARY KEY);", "DROP TABLE audit;"),
	}
	db := testkit.NewEmptyDB(t)
	ctx := context.Background()
	merged, err := database.MergeMigrations(map[string]fs.FS{"accounts": first})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := database.MigrateUp(ctx, db, merged); err != nil {
		t.Fatal(err)
	}

	merged, err = database.MergeMigrations(map[string]fs.FS{"accounts": first, "billing": billingMigrations})
	if err != nil {
		t.Fatal(err)
	}
	applied, err := database.MigrateUp(ctx, db, merged)
	if err != nil {
		t.Fatalf("migrate up with billing's older migration: %v", err)
	}
	if got := versions(applied); got != "20240102000000" {
		t.Errorf("applied %s, want billing's 20240102000000 alone", got)
	}
	if _, err := db.Exec(ctx, `INSERT INTO plans (id, name) VALUES (2, 'pro')`); err != nil {
		t.Errorf("plans after the late migration: %v", err)
	}
}

func TestMergeMigrationsRefusesADuplicateVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		sets      map[string]fs.FS
		wantInErr []string
	}{
		{"same version", map[string]fs.FS{
			"auth":    fstest.MapFS{"00001_users.sql": sqlFile("SELECT 1;", "SELECT 1;")},
			"billing": fstest.MapFS{"00001_plans.sql": sqlFile("SELECT 1;", "SELECT 1;")},
		}, []string{"version 1", "auth/00001_users.sql", "billing/00001_plans.sql"}},
		{"same number, other padding", map[string]fs.FS{
			"auth":    fstest.MapFS{"20240101000000_users.sql": sqlFile("SELECT 1;", "SELECT 1;")},
			"billing": fstest.MapFS{"020240101000000_plans.sql": sqlFile("SELECT 1;", "SELECT 1;")},
		}, []string{"version 20240101000000", "auth/20240101000000_users.sql", "billing/020240101000000_plans.sql"}},
		{"same file name", map[string]fs.FS{
			"auth":    fstest.MapFS{"00007_init.sql": sqlFile("SELECT 1;", "SELECT 1;")},
			"billing": fstest.MapFS{"00007_init.sql": sqlFile("SELECT 2;", "SELECT 2;")},
		}, []string{"version 7", "auth/00007_init.sql", "billing/00007_init.sql"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			merged, err := database.MergeMigrations(tt.sets)
			if err == nil {
				t.Fatalf("got %v and no error, want a duplicate version error", merged)
			}
			for _, want := range tt.wantInErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got error %q, want it to name %q", err, want)
				}
			}
		})
	}
}

func TestMergeMigrationsRefusesAnUnnumberedFile(t *testing.T) {
	t.Parallel()
	_, err := database.MergeMigrations(map[string]fs.FS{
		"auth": fstest.MapFS{"users.sql": sqlFile("SELECT 1;", "SELECT 1;")},
	})
	if err == nil || !strings.Contains(err.Error(), "auth") || !strings.Contains(err.Error(), "users.sql") {
		t.Errorf("got %v, want an error naming auth and users.sql", err)
	}
}

// ConnString opens the same database outside the pool, as River's LISTEN
// connection does.
func TestConnString(t *testing.T) {
	t.Parallel()
	o := testkit.DBOptions(t, notesSchema)
	db, err := database.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Exec(ctx, `INSERT INTO notes (id, body) VALUES (1, 'seen from outside')`); err != nil {
		t.Fatal(err)
	}

	driver := "sqlite"
	if db.Dialect() == database.Postgres {
		driver = "pgx"
		if got := db.ConnString(); got != o.DSN {
			t.Errorf("ConnString() = %q, want the PostgreSQL URL it was opened with, %q", got, o.DSN)
		}
	}
	other, err := sql.Open(driver, db.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var body string
	if err := other.QueryRowContext(ctx, `SELECT body FROM notes WHERE id = 1`).Scan(&body); err != nil {
		t.Fatalf("query through ConnString %q: %v", db.ConnString(), err)
	}
	if body != "seen from outside" {
		t.Errorf("got %q through ConnString, want the row written through the pool", body)
	}
}
