// Package app is rightsize's composition root: it parses the command line and
// the environment, wires the platform and the services together, and runs
// them until told to stop.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"

	"github.com/rightsize/rightsize/internal/platform/config"
)

// ErrUsage marks errors in how rightsize was invoked: an unknown command or
// flag, or a bad environment variable. main exits with status 2 for them.
var ErrUsage = errors.New("usage error")

type usageError struct{ err error }

func (e usageError) Error() string   { return e.err.Error() }
func (e usageError) Unwrap() []error { return []error{e.err, ErrUsage} }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// Version is the release this binary was built from, set at build time with
// -ldflags "-X github.com/rightsize/rightsize/internal/app.Version=v1.2.3".
var Version = "dev"

const usage = `rightsize: a right-sized API backend (auth, billing, api, jobs) in one binary.

Usage:
  rightsize [serve] [--services auth,billing,api] [--worker=true|false]
        Run the HTTP services and, unless --worker=false, the job worker.
        --services   which services' routes to mount (env SERVICES; default: all)
        --worker     run the in-process job worker (env WORKER; default: true)
  rightsize worker
        Run only the job worker (it answers /health and /ready on PORT too).
  rightsize migrate up|down|status
        up: apply every pending migration (the application's, then River's);
        down: roll back the application's latest migration; status: list them.
  rightsize version
        Print the version.
  rightsize help
        Print this help.

Configuration comes from environment variables only; README.md lists them all.
`

// Run runs rightsize with the given command-line arguments (args[0] is the
// program name) and environment, until ctx is cancelled (SIGINT or SIGTERM in
// main) or the command ends. Errors wrapping ErrUsage mean bad invocation.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		args = []string{"rightsize"}
	}
	cmd, rest := "serve", args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		cmd, rest = rest[0], rest[1:]
	}
	switch cmd {
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version":
		fmt.Fprintf(stdout, "rightsize %s (%s)\n", Version, runtime.Version())
		return nil
	}

	if cmd != "serve" && cmd != "worker" && cmd != "migrate" {
		return usagef("unknown command %q (see rightsize help)", cmd)
	}
	fs := flag.NewFlagSet("rightsize "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	services := fs.String("services", "", "")
	worker := fs.Bool("worker", true, "")
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return nil
		}
		return usagef("%v (see rightsize help)", err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cmd != "serve" && len(set) > 0 {
		return usagef("flags --services and --worker belong to serve, not %s", cmd)
	}
	if cmd != "migrate" && fs.NArg() > 0 {
		return usagef("unexpected argument %q (see rightsize help)", fs.Arg(0))
	}

	// A flag overrides its environment variable, and is validated the same way.
	env := func(name string) string {
		switch {
		case name == "SERVICES" && set["services"]:
			return *services
		case name == "WORKER" && set["worker"]:
			return strconv.FormatBool(*worker)
		}
		return getenv(name)
	}
	cfg, err := config.Load(env)
	if err != nil {
		return usageError{fmt.Errorf("invalid configuration:\n%w", err)}
	}

	switch cmd {
	case "serve":
		return serve(ctx, cfg, catalog, stdout)
	case "worker":
		cfg.Services, cfg.Worker = []string{}, true
		return serve(ctx, cfg, catalog, stdout)
	case "migrate":
		return migrate(ctx, cfg, fs.Args(), stdout)
	}
	panic("unreachable")
}
