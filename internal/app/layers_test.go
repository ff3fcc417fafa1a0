package app

import (
	gobuild "go/build"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/rightsize/rightsize/"

// Dependencies point one way: cmd → app → services → service, jobs,
// platform. A platform package imports only platform packages, jobs only
// platform, a service no other service and not app. The graph is read from
// the real source (go/build applies build constraints), test files too:
// only services' tests may use app's test harness, apptest.
func TestImportLayers(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	var checked int
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(dir string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		pkg, err := gobuild.Default.ImportDir(dir, 0)
		if _, none := err.(*gobuild.NoGoError); none {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, dir)
		path := filepath.ToSlash(rel)
		checked++
		for _, imp := range pkg.Imports {
			if why := forbidden(path, imp, false); why != "" {
				t.Errorf("%s imports %s: %s", path, imp, why)
			}
		}
		for _, imp := range append(slices.Clone(pkg.TestImports), pkg.XTestImports...) {
			if why := forbidden(path, imp, true); why != "" {
				t.Errorf("%s (tests) import %s: %s", path, imp, why)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 15 {
		t.Fatalf("checked %d packages, want every package under internal/", checked)
	}
}

// layer names what a package under internal/ is.
func layer(path string) string {
	switch {
	case path == "internal/app", strings.HasPrefix(path, "internal/app/"):
		return "app"
	case strings.HasPrefix(path, "internal/platform/"):
		return "platform"
	case path == "internal/jobs", path == "internal/service":
		return strings.TrimPrefix(path, "internal/")
	}
	return "service"
}

// forbidden says why pkg may not import imp, or "" if it may.
func forbidden(pkg, imp string, test bool) string {
	dep, ours := strings.CutPrefix(imp, module)
	if !ours || dep == pkg {
		return ""
	}
	from, to := layer(pkg), layer(dep)
	switch from {
	case "platform":
		if to != "platform" {
			return "a platform package imports only platform packages"
		}
	case "jobs":
		if to != "platform" {
			return "jobs imports only platform packages"
		}
	case "service":
		if pkg == "internal/service" {
			break
		}
		if test && dep == "internal/app/apptest" {
			return "" // the one harness every service's tests run on
		}
		if to == "app" {
			return "a service never imports app"
		}
		if to == "service" && dep != "internal/service" && !strings.HasPrefix(dep, pkg+"/") {
			return "a service never imports another service: declare a function type, and let app wire it"
		}
	}
	if pkg == "internal/service" && (to == "app" || to == "service" && dep != "internal/service") {
		return "the service contract imports no service and not app"
	}
	return ""
}

// The rule itself, on a few edges it must refuse and allow.
func TestImportRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pkg, imp string
		test     bool
		refused  bool
	}{
		{"internal/platform/testkit", module + "internal/auth", false, true},
		{"internal/platform/config", module + "internal/jobs", false, true},
		{"internal/platform/config", module + "internal/platform/ratelimit", false, false},
		{"internal/jobs", module + "internal/auth", false, true},
		{"internal/jobs", module + "internal/platform/database", false, false},
		{"internal/orders", module + "internal/auth", false, true},
		{"internal/orders", module + "internal/app", false, true},
		{"internal/orders", module + "internal/app/apptest", true, false},
		{"internal/orders", module + "internal/app/apptest", false, true},
		{"internal/orders", module + "internal/service", false, false},
		{"internal/orders", module + "internal/jobs", false, false},
		{"internal/service", module + "internal/auth", false, true},
		{"internal/app", module + "internal/auth", false, false},
	}
	for _, tt := range tests {
		if got := forbidden(tt.pkg, tt.imp, tt.test) != ""; got != tt.refused {
			t.Errorf("%s → %s (test %v): refused %v, want %v", tt.pkg, tt.imp, tt.test, got, tt.refused)
		}
	}
}
