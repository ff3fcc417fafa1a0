package app

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/rightsize/rightsize/internal/platform/config"
	"github.com/rightsize/rightsize/internal/service"
)

// Version, Commit and Built describe the build, stamped by the image build
// (which has no .git to read) with
//
//	-ldflags "-X github.com/rightsize/rightsize/internal/app.Version=v1.2.3
//	          -X github.com/rightsize/rightsize/internal/app.Commit=0123abc…
//	          -X github.com/rightsize/rightsize/internal/app.Built=2026-12-04T21:00:00Z"
//
// Unset, they come from the Go toolchain's build information: the module's
// version, and the VCS revision and commit time of a build inside a clone.
var (
	Version = ""
	Commit  = ""
	Built   = ""
)

// version returns the release (Version, else the module's version, else
// "dev"), the commit (12 hex digits, +dirty for a modified tree) and the
// build time.
func version() (release, commit, built string) {
	release, commit, built = Version, Commit, Built
	if info, ok := debug.ReadBuildInfo(); ok {
		if release == "" {
			release = info.Main.Version
		}
		modified := false
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && commit == "":
				commit = s.Value
			case s.Key == "vcs.time" && built == "":
				built = s.Value
			case s.Key == "vcs.modified":
				modified = s.Value == "true" && Commit == ""
			}
		}
		commit = commit[:min(12, len(commit))]
		if modified && commit != "" {
			commit += "+dirty"
		}
	}
	// A pseudo-version (v0.0.0-20261204…-0123abc) only repeats the commit.
	if release == "" || release == "(devel)" || strings.HasPrefix(release, "v0.0.0-") {
		release = "dev"
	}
	return release, commit, built
}

// versionLine reads like "rightsize v1.2.3 (commit 0123abc, built
// 2026-12-04T21:00:00Z, go1.26.8)": what `version` prints and the start-up
// log records.
func versionLine() string {
	release, commit, built := version()
	var parts []string
	if commit != "" {
		parts = append(parts, "commit "+commit)
	}
	if built != "" {
		parts = append(parts, "built "+built)
	}
	parts = append(parts, runtime.Version())
	return fmt.Sprintf("rightsize %s (%s)", release, strings.Join(parts, ", "))
}

// Vars lists every environment variable rightsize reads, with its default,
// in the order it reads them: what `rightsize help env` prints, for checks
// that deployment files set only variables that exist.
func Vars() []config.Var { return describe(catalog) }

// describe lists every variable of the platform, of app and of every
// service of catalog, in the order Load reads them.
func describe(catalog []service.Def) []config.Var {
	return config.Describe(newLoaded(catalog).sections()...)
}

// printVars writes `rightsize help env`: every variable with its default
// and what it does, for a container that has no README.
func printVars(w io.Writer, catalog []service.Def) {
	for _, v := range describe(catalog) {
		def := v.Default
		if def == "" {
			def = "(empty)"
		}
		secret := ""
		if v.Secret {
			secret = "  [secret]"
		}
		fmt.Fprintf(w, "%s=%s%s\n    %s\n    Accepts %s.\n\n", v.Name, def, secret, v.Description, v.Want)
	}
}

// printSettings writes `rightsize config`: every variable's value in
// effect, secrets masked, and whether it is the default.
func printSettings(w io.Writer, cfg config.Config) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tVALUE\tSOURCE")
	for _, s := range cfg.Settings() {
		source := "environment"
		if s.Default {
			source = "default"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Value, source)
	}
	return tw.Flush()
}

// markdownVars renders the variables as the README's configuration table.
func markdownVars(catalog []service.Def) string {
	var b strings.Builder
	b.WriteString("| Variable | Default | Description |\n|---|---|---|\n")
	for _, v := range describe(catalog) {
		def := "*(empty)*"
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		desc := strings.ReplaceAll(v.Description, "|", `\|`)
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", v.Name, def, desc)
	}
	return b.String()
}
