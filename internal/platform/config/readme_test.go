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
	// Rows of the configuration table, the README's first table naming each
	// variable, read | `NAME` | `default` | description |;
	// an empty default is written *(empty)*.
	defaults := make(map[string]string)
	for line := range strings.Lines(string(b)) {
		cells := strings.Split(strings.TrimSpace(line), "|")
		if len(cells) < 4 || cells[0] != "" {
			continue
		}
		name, def := strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2])
		if !strings.HasPrefix(name, "`") {
			continue
		}
		if def == "*(empty)*" {
			def = ""
		}
		name = strings.Trim(name, "`")
		if _, seen := defaults[name]; !seen { // the configuration table comes first
			defaults[name] = strings.Trim(def, "`")
		}
	}
	for _, v := range config.Vars() {
		def, ok := defaults[v.Name]
		switch {
		case !ok:
			t.Errorf("%s: no row in the table in %s (default %q: %s)", v.Name, path, v.Default, v.Description)
		case def != v.Default:
			t.Errorf("%s: README says default %q, want %q", v.Name, def, v.Default)
		}
	}
}
