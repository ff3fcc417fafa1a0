package testkit_test

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

func TestFSKey(t *testing.T) {
	t.Parallel()
	files := func(name, body string) fstest.MapFS {
		return fstest.MapFS{
			"postgres/00001_a.sql": {Data: []byte("CREATE TABLE a (id INTEGER);")},
			name:                   {Data: []byte(body)},
		}
	}
	base := testkit.FSKey("v1", files("sqlite/00001_a.sql", "CREATE TABLE a (id INTEGER);"))
	if again := testkit.FSKey("v1", files("sqlite/00001_a.sql", "CREATE TABLE a (id INTEGER);")); again != base {
		t.Errorf("same files: got %s then %s, want the same key", base, again)
	}
	for name, key := range map[string]string{
		"a file's content changed": testkit.FSKey("v1", files("sqlite/00001_a.sql", "CREATE TABLE a (id BIGINT);")),
		"a file renamed":           testkit.FSKey("v1", files("sqlite/00002_a.sql", "CREATE TABLE a (id INTEGER);")),
		"extra changed":            testkit.FSKey("v2", files("sqlite/00001_a.sql", "CREATE TABLE a (id INTEGER);")),
		"another fs added": testkit.FSKey("v1", files("sqlite/00001_a.sql", "CREATE TABLE a (id INTEGER);"),
			fstest.MapFS{"sqlite/00001_b.sql": {Data: []byte("CREATE TABLE b (id INTEGER);")}}),
	} {
		if key == base {
			t.Errorf("%s: key unchanged (%s), want a new one so a stale template is not reused", name, key)
		}
	}
}

var kitSchema = testkit.Schema{
	Key: "testkit-test-1",
	Apply: func(ctx context.Context, db *database.DB) error {
		_, err := db.Exec(ctx, `CREATE TABLE kit (id INTEGER PRIMARY KEY)`)
		return err
	},
}

// Each NewDB is a database of its own holding the schema: what one test
// writes, another does not see.
func TestNewDBIsFreshAndHoldsTheSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := testkit.NewDB(t, kitSchema), testkit.NewDB(t, kitSchema)
	if _, err := a.Exec(ctx, `INSERT INTO kit (id) VALUES (1)`); err != nil {
		t.Fatalf("insert into the schema's table: %v", err)
	}
	var n int
	if err := b.QueryRow(ctx, `SELECT count(*) FROM kit`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("got %d rows in a second database, want 0: each test's database is its own", n)
	}
	if a.Dialect() != testkit.Dialect() {
		t.Errorf("got dialect %s, want %s", a.Dialect(), testkit.Dialect())
	}
}

func TestNewEmptyDBHasNoTables(t *testing.T) {
	t.Parallel()
	db := testkit.NewEmptyDB(t)
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM kit`).Scan(&n); err == nil {
		t.Error("an empty database has the kit table, want no tables at all")
	}
}
