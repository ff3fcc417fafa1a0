package app

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's generated configuration table")

const (
	varsStart = "<!-- variables: generated from the tables by `go test ./internal/app -run TestReadme -update` -->\n"
	varsEnd   = "<!-- end of variables -->\n"
)

// The README's configuration table is generated from the tables of the
// platform, app and every service, so a variable is written once: this test
// fails when the README differs, and -update rewrites it.
func TestReadmeVariables(t *testing.T) {
	path := filepath.Join("..", "..", "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("README.md must document every environment variable: %v", err)
	}
	readme := string(b)
	start, end := strings.Index(readme, varsStart), strings.Index(readme, varsEnd)
	if start < 0 || end < start {
		t.Fatalf("README.md has no generated table between %q and %q", varsStart, varsEnd)
	}
	want := markdownVars(catalog)
	got := readme[start+len(varsStart) : end]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(readme[:start+len(varsStart)]+want+readme[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's variables are out of date: run go test ./internal/app -run TestReadme -update\ngot:\n%s\nwant:\n%s", got, want)
}
