package deploy

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"testing"
)

// Every manifest in the repository (go.mod, package.json, Dockerfile, the
// workflows) gets Dependabot's updates, and every directory Dependabot is
// given holds the manifest of its ecosystem: a new tool module or a moved
// file cannot silently fall out of the updates.
func TestDependabotCoversEveryManifest(t *testing.T) {
	var cfg struct {
		Version int `yaml:"version"`
		Updates []struct {
			Ecosystem   string            `yaml:"package-ecosystem"`
			Directory   string            `yaml:"directory"`
			Directories []string          `yaml:"directories"`
			Schedule    map[string]string `yaml:"schedule"`
			Groups      map[string]any    `yaml:"groups"`
		} `yaml:"updates"`
	}
	decodeYAML(t, "../.github/dependabot.yml", &cfg)
	if cfg.Version != 2 {
		t.Errorf("version %d: want 2", cfg.Version)
	}

	manifests := map[string]string{ // file name → ecosystem
		"go.mod":       "gomod",
		"package.json": "npm",
		"Dockerfile":   "docker",
	}
	covered := map[string]bool{} // ecosystem + directory
	for _, u := range cfg.Updates {
		dirs := u.Directories
		if u.Directory != "" {
			dirs = append(dirs, u.Directory)
		}
		if len(dirs) == 0 || u.Schedule["interval"] == "" {
			t.Errorf("%s: want a directory and a schedule interval", u.Ecosystem)
		}
		for _, dir := range dirs {
			covered[u.Ecosystem+" "+dir] = true
			var want string
			for file, eco := range manifests {
				if eco == u.Ecosystem {
					want = file
				}
			}
			if u.Ecosystem == "github-actions" {
				want = ".github/workflows"
			}
			if want == "" {
				t.Errorf("%s: an ecosystem this repository has no manifest of", u.Ecosystem)
				continue
			}
			if _, err := os.Stat(filepath.Join("..", filepath.FromSlash(dir), want)); err != nil {
				t.Errorf("%s %s: no %s there", u.Ecosystem, dir, want)
			}
		}
	}

	var found []string
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		eco, ok := manifests[d.Name()]
		if d.IsDir() || !ok {
			return nil
		}
		rel, err := filepath.Rel("..", filepath.Dir(p))
		if err != nil {
			return err
		}
		dir := path.Clean("/" + filepath.ToSlash(rel))
		found = append(found, eco+" "+dir)
		if !covered[eco+" "+dir] {
			t.Errorf("%s: no Dependabot %s updates for %s", filepath.ToSlash(p), eco, dir)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !covered["github-actions /"] {
		t.Error("no Dependabot updates for the workflows' actions")
	}
	if !slices.Contains(found, "gomod /") || !slices.Contains(found, "docker /") {
		t.Errorf("found %v: the walk missed the main module or the Dockerfile", found)
	}
}
