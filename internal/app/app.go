// Package app is rightsize's composition root: it parses the command line and
// the environment, builds the platform once, builds every service of the
// catalog on it, wires what one service exports into what another declares,
// and runs them until told to stop.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// ErrUsage marks errors in how rightsize was invoked: an unknown command or
// flag, or a bad environment variable. main exits with status 2 for them.
var ErrUsage = errors.New("usage error")

type usageError struct{ err error }

func (e usageError) Error() string   { return e.err.Error() }
func (e usageError) Unwrap() []error { return []error{e.err, ErrUsage} }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

const usage = `rightsize: a right-sized API backend (auth, billing, api, jobs) in one binary.

Usage:
  rightsize [serve] [--services auth,billing,api] [--worker=true|false]
        Run the HTTP services and, unless --worker=false, the job worker.
        --services   which services' routes to mount (env SERVICES; default: all)
        --worker     run the in-process job worker (env WORKER; default: true)
  rightsize worker
        Run only the job worker (it answers /health and /ready on PORT too).
  rightsize migrate up|down|status
        up: apply every pending migration (every service's, then River's);
        down: roll back the latest migration; status: list them.
  rightsize config
        Print the settings in effect, from the environment and defaults,
        secrets masked.
  rightsize openapi
        Print the OpenAPI 3.1 document of every service (what /openapi.json
        serves when all are mounted).
  rightsize version (or --version)
        Print the version, commit and build time.
  rightsize healthcheck [/ready|/health]
        Ask this container's server (127.0.0.1:PORT) for /ready (default) or
        /health; exit 0 on 200, 1 otherwise. For probes run inside the image.
  rightsize help [env]
        Print this help, or every environment variable with its default.

Configuration comes from environment variables only: rightsize help env
lists them all.
`

// Run runs rightsize with the given command-line arguments (args[0] is the
// program name) and environment, until ctx is cancelled (SIGINT or SIGTERM in
// main) or the command ends. Errors wrapping ErrUsage mean bad invocation.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd, rest := command(args)
	switch {
	case cmd == "help" && len(rest) == 0:
		fmt.Fprint(stdout, usage)
		return nil
	case cmd == "help" && len(rest) == 1 && rest[0] == "env":
		printVars(stdout, catalog)
		return nil
	case cmd == "help":
		return usagef("help takes no argument or env, not %q", strings.Join(rest, " "))
	case cmd == "openapi" && len(rest) == 0:
		return printOpenAPI(stdout, catalog)
	case cmd == "openapi":
		return usagef("openapi takes no argument, not %q", strings.Join(rest, " "))
	case cmd == "version" || (cmd == "serve" && len(rest) == 1 && (rest[0] == "--version" || rest[0] == "-version")):
		fmt.Fprintln(stdout, versionLine())
		return nil
	case cmd == "healthcheck":
		return healthcheck(ctx, rest, getenv, stdout)
	case slices.ContainsFunc(rest, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" }):
		fmt.Fprint(stdout, usage)
		return nil
	}

	cmd, cfg, rest, err := prepare(args, getenv)
	if err != nil {
		return err
	}
	switch cmd {
	case "config":
		return printSettings(stdout, cfg.platform)
	case "migrate":
		return migrate(ctx, cfg, rest, stdout)
	case "worker":
		cfg.platform.Services, cfg.platform.Worker, cfg.mounted = []string{}, true, nil
	}
	return serve(ctx, cfg, stdout)
}

// Check parses args (args[0] is the program name) and the environment exactly
// as Run does for serve, worker, migrate and config, and returns the first
// error, without opening anything: for tests of deployment files that start
// the image with a command and an environment.
func Check(args []string, getenv func(string) string) error {
	_, _, _, err := prepare(args, getenv)
	return err
}

// command splits args into the command (serve if none is named) and what
// follows it.
func command(args []string) (cmd string, rest []string) {
	if len(args) < 2 {
		return "serve", nil
	}
	if strings.HasPrefix(args[1], "-") {
		return "serve", args[1:]
	}
	return args[1], args[2:]
}

// prepare parses the command line and loads the configuration of the
// commands that run rightsize (serve, worker, migrate, config). rest is what
// follows the flags.
func prepare(args []string, getenv func(string) string) (cmd string, cfg *loaded, rest []string, err error) {
	cmd, rest = command(args)
	if cmd != "serve" && cmd != "worker" && cmd != "migrate" && cmd != "config" {
		return "", nil, nil, usagef("unknown command %q (see rightsize help)", cmd)
	}
	fs := flag.NewFlagSet("rightsize "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	services := fs.String("services", "", "")
	worker := fs.Bool("worker", true, "")
	if err := fs.Parse(rest); err != nil {
		return "", nil, nil, usagef("%v (see rightsize help)", err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cmd != "serve" && len(set) > 0 {
		return "", nil, nil, usagef("flags --services and --worker belong to serve, not %s", cmd)
	}
	if cmd != "migrate" && fs.NArg() > 0 {
		return "", nil, nil, usagef("unexpected argument %q (see rightsize help)", fs.Arg(0))
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
	if cmd == "migrate" && (fs.NArg() != 1 || !slices.Contains([]string{"up", "down", "status"}, fs.Arg(0))) {
		return "", nil, nil, usagef("migrate wants one of up, down, status (see rightsize help)")
	}
	if cfg, err = load(env, catalog); err != nil {
		return "", nil, nil, err
	}
	return cmd, cfg, fs.Args(), nil
}
