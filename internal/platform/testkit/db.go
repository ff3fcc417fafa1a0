// Package testkit gives tests real parts: a fresh, migrated database per test
// (SQLite, or PostgreSQL when TEST_DATABASE_URL is set) and an in-process SMTP
// server.
package testkit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/database"
)

// Dialect is the database the tests of this run use: PostgreSQL when
// TEST_DATABASE_URL is set, SQLite otherwise.
func Dialect() database.Dialect {
	if testDatabaseURL() != "" {
		return database.Postgres
	}
	return database.SQLite
}

// Schema is what a test database holds: Apply creates it on an empty
// database, and Key, which must change whenever what Apply creates does,
// names the PostgreSQL template databases are cloned from. Packages below
// app cannot know every service's schema, so each test names the one it
// needs: its own tables, River's, or (app's tests) all of them.
type Schema struct {
	Key   string
	Apply func(ctx context.Context, db *database.DB) error
}

// FSKey returns a key that changes whenever any file of fsys does, and
// extra (a library's version) does, for a [Schema] built from migration
// files.
func FSKey(extra string, fsys ...fs.FS) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", extra)
	for _, f := range fsys {
		fs.WalkDir(f, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(f, path)
			fmt.Fprintf(h, "%s\x00%s\x00", path, b)
			return err
		})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ModuleVersion returns the version of a module the test binary was built
// with, such as River's, for a [Schema] key.
func ModuleVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == path {
				return dep.Version
			}
		}
	}
	return ""
}

// DBOptions returns options for a fresh database holding s, that belongs to
// t alone and is deleted when t ends. Tests that need their own logger or
// metrics registry set them and call database.Open; the rest call NewDB.
func DBOptions(t testing.TB, s Schema) database.Options {
	t.Helper()
	o := database.Options{
		MaxOpenConns:    10,
		MaxIdleConns:    5,
		ConnMaxLifetime: time.Hour,
		QueryTimeout:    10 * time.Second,
		SlowQuery:       time.Second,
	}
	if Dialect() == database.SQLite {
		o.Dialect, o.DSN = database.SQLite, filepath.Join(t.TempDir(), "test.db")
		once, _ := sqliteTemplates.LoadOrStore(s.Key, sync.OnceValues(func() ([]byte, error) { return sqliteTemplate(s) }))
		b, err := once.(func() ([]byte, error))()
		if err != nil {
			t.Fatalf("test database template: %v", err)
		}
		if err := os.WriteFile(o.DSN, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return o
	}
	o.Dialect, o.DSN = database.Postgres, clonePostgres(t, s)
	return o
}

// NewDB returns an open handle on a fresh database of t's own holding s,
// closed and deleted when t ends.
func NewDB(t testing.TB, s Schema) *database.DB {
	t.Helper()
	db := open(t, DBOptions(t, s))
	t.Cleanup(func() { db.Close() })
	return db
}

func open(t testing.TB, o database.Options) *database.DB {
	t.Helper()
	db, err := database.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	return db
}

// On SQLite each schema is created once per test binary, and every test
// gets a copy of the file: migrating a database for every test was the
// largest cost of the SQLite test run.
var sqliteTemplates sync.Map // Schema.Key → func() ([]byte, error)

// sqliteTemplate returns the bytes of a SQLite database file holding s.
// VACUUM INTO writes a complete file, with nothing left in a WAL beside it.
func sqliteTemplate(s Schema) ([]byte, error) {
	dir, err := os.MkdirTemp("", "rightsize-template-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := database.Open(ctx, database.Options{Dialect: database.SQLite, DSN: filepath.Join(dir, "build.db"), MaxOpenConns: 1})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := s.Apply(ctx, db); err != nil {
		return nil, fmt.Errorf("create template schema: %w", err)
	}
	file := filepath.Join(dir, "template.db")
	if _, err := db.SQL().ExecContext(ctx, "VACUUM INTO ?", file); err != nil {
		return nil, err
	}
	return os.ReadFile(file)
}

// On PostgreSQL each schema is created once, into a template database named
// by its key, and every test gets a copy: CREATE DATABASE …
// TEMPLATE copies files, far faster than migrating, and separate databases
// isolate even LISTEN/NOTIFY between parallel tests.
var templates sync.Map // Schema.Key → func() (string, error)

func clonePostgres(t testing.TB, s Schema) string {
	t.Helper()
	admin := adminDB(t)
	defer admin.Close()
	once, _ := templates.LoadOrStore(s.Key, sync.OnceValues(func() (string, error) { return ensureTemplate(admin, s) }))
	name, err := once.(func() (string, error))()
	if err != nil {
		t.Fatalf("test database template: %v", err)
	}
	return createPostgres(t, admin, name)
}

// EmptyDatabaseURL returns a DATABASE_URL value naming a new database of t's
// own with no tables at all, for tests of start-up migrations.
func EmptyDatabaseURL(t testing.TB) string {
	t.Helper()
	if Dialect() == database.SQLite {
		return "sqlite:" + filepath.Join(t.TempDir(), "empty.db")
	}
	admin := adminDB(t)
	defer admin.Close()
	return createPostgres(t, admin, "template0")
}

func createPostgres(t testing.TB, admin *sql.DB, template string) string {
	t.Helper()
	name := "rightsize_test_" + randomHex(8)
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" TEMPLATE "+template); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		admin := adminDB(t)
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return withDatabase(t, testDatabaseURL(), name)
}

func ensureTemplate(admin *sql.DB, s Schema) (string, error) {
	ctx := context.Background()
	sum := sha256.Sum256([]byte(s.Key))
	name := "rightsize_tmpl_" + hex.EncodeToString(sum[:8])
	// Test binaries of several packages run at once: one builds, the rest wait.
	conn, err := admin.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7269676875)"); err != nil {
		return "", err
	}
	defer conn.ExecContext(ctx, "SELECT pg_advisory_unlock(7269676875)")

	var exists bool
	if err := conn.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	if _, err := conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	u, err := url.Parse(testDatabaseURL())
	if err != nil {
		return "", err
	}
	u.Path = "/" + building
	db, err := database.Open(ctx, database.Options{Dialect: database.Postgres, DSN: u.String(), MaxOpenConns: 2})
	if err != nil {
		return "", err
	}
	err = s.Apply(ctx, db)
	db.Close()
	if err != nil {
		return "", fmt.Errorf("create template schema: %w", err)
	}
	// Renamed only once complete, so a run that died half-way is never used.
	if _, err := conn.ExecContext(ctx, "ALTER DATABASE "+building+" RENAME TO "+name); err != nil {
		return "", err
	}
	return name, nil
}

func adminDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", testDatabaseURL())
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	db.SetMaxOpenConns(2)
	return db
}

func withDatabase(t testing.TB, rawURL, name string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
