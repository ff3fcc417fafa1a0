package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rightsize/rightsize/internal/platform/config"
)

// TestReadmeDocumentsEveryVar keeps the README's configuration table true:
// every variable Load reads must have a row there. A missing README fails
// the test rather than skipping it, since the README is where operators look.
func TestReadmeDocumentsEveryVar(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "..", "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("README.md must document every environment variable in a table: %v", err)
	}
	documented := make(map[string]bool)
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			continue
		}
		for cell := range strings.SplitSeq(line, "|") {
			documented[strings.Trim(cell, " `")] = true
		}
	}
	for _, v := range config.Vars() {
		if !documented[v.Name] {
			t.Errorf("%s: no row in the table in %s (default %q: %s)", v.Name, path, v.Default, v.Description)
		}
	}
}
