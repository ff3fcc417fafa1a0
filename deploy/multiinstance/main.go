// Command multiinstance proves that rightsize runs as several instances
// behind a real load balancer and that one of them can be stopped under load
// without a client noticing.
//
// It builds the binary, migrates a fresh PostgreSQL database once, starts
// auth, billing, two api instances and a worker as separate processes, and
// Caddy with deploy/caddy/Caddyfile in front of them; it takes their mail
// itself, on an SMTP port. Everything is on loopback, except that rightsize
// listens on PORT on every interface. Through Caddy only it signs up, reads the verification
// mail, verifies, logs in and makes orders; then it runs a burst of order
// requests and sends SIGTERM to one api instance in the middle of it. It
// fails unless every request succeeded, the stopped instance exited 0 after
// a clean shutdown, the other served on, and every order accepted is in the
// database, no more and no fewer. It stops everything it started, and drops
// the database, however it ends.
//
// Run it from the repository with
//
//	go run ./deploy/multiinstance
//
// It needs caddy on PATH (or -caddy) and PostgreSQL (-admin-url).
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// options are the driver's flags.
type options struct {
	adminURL  string
	caddy     string
	caddyfile string
	timeout   time.Duration
	burst     time.Duration
	clients   int
	keep      bool
	delay     time.Duration
}

func main() { os.Exit(run()) }

func run() (code int) {
	var o options
	flag.StringVar(&o.adminURL, "admin-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"PostgreSQL server to create the proof's database on (and drop it from)")
	flag.StringVar(&o.caddy, "caddy", "caddy", "Caddy binary")
	flag.StringVar(&o.caddyfile, "caddyfile", "deploy/caddy/Caddyfile", "Caddyfile, relative to the module's root")
	flag.DurationVar(&o.timeout, "timeout", 120*time.Second, "deadline for the whole proof, build included")
	flag.DurationVar(&o.burst, "burst", 8*time.Second, "length of the burst; SIGTERM goes to one api instance 40% into it")
	flag.IntVar(&o.clients, "clients", 24, "concurrent clients in the burst")
	flag.DurationVar(&o.delay, "shutdown-delay", 3*time.Second,
		"the instances' SHUTDOWN_DELAY: longer than Caddy's health_interval + health_timeout (2.5 s); 0s shows what fails without it")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (binaries, logs) instead of removing it")
	flag.Parse()

	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	p := &proof{opts: o, started: started}
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "multiinstance: panic: %v\n%s", r, debug.Stack())
			code = 1
		}
		if code != 0 {
			p.printTails()
		}
		p.cleanup(code != 0)
		if code != 0 {
			fmt.Fprintf(os.Stderr, "multiinstance: FAILED after %.1fs\n", time.Since(started).Seconds())
		}
	}()
	if err := p.run(ctx); err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%v)", err, context.Cause(ctx))
		}
		fmt.Fprintf(os.Stderr, "multiinstance: %v\n", err)
		return 1
	}
	return 0
}

// proof is one run: what it started, for the clean-up.
type proof struct {
	opts    options
	started time.Time
	root    string // the module's root
	dir     string // work directory: binaries, logs, Caddy's state
	dbName  string
	dbURL   string
	procs   []*proc // in start order
}

func (p *proof) logf(format string, args ...any) {
	fmt.Printf("[%5.1fs] %s\n", time.Since(p.started).Seconds(), fmt.Sprintf(format, args...))
}

func (p *proof) run(ctx context.Context) error {
	o := p.opts
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return fmt.Errorf("run it inside the rightsize module (go env GOMOD: %q, %v)", out, err)
	}
	p.root = filepath.Dir(strings.TrimSpace(string(out)))
	caddyfile := filepath.Join(p.root, o.caddyfile)
	caddy, err := exec.LookPath(o.caddy)
	if err != nil {
		return fmt.Errorf("caddy: %w (apt-get install caddy)", err)
	}
	if p.dir, err = os.MkdirTemp("", "rightsize-multiinstance-"); err != nil {
		return err
	}

	// The binary, and the database, at once.
	p.logf("building rightsize in %s; creating the database", p.dir)
	rightsize := filepath.Join(p.dir, "rightsize")
	err = group(
		func() error {
			return p.goBuild(ctx, "-o", rightsize,
				"-ldflags", "-X github.com/rightsize/rightsize/internal/app.Version=multiinstance-proof",
				"./cmd/rightsize")
		},
		func() error { return p.createDB(ctx) },
	)
	if err != nil {
		return err
	}

	smtpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sink := startMailSink(smtpLn)
	defer sink.close()
	smtpAddr := smtpLn.Addr().String()
	ports, err := freePorts(11)
	if err != nil {
		return err
	}
	lbAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	lb := "http://" + lbAddr

	env := []string{
		"ENV=development",
		"LOG_FORMAT=json",
		"DATABASE_URL=" + p.dbURL,
		"AUTO_MIGRATE=false",
		"DATA_DIR=" + filepath.Join(p.dir, "data"),
		"AUTH_SIGNING_KEY=" + randomBase64(32),
		// One key for every instance: a cursor made by one is read by another.
		"CURSOR_SECRET=" + randomBase64(48),
		"SMTP_URL=smtp://" + smtpAddr,
		"PUBLIC_URL=" + lb,
		"TRUSTED_PROXY_COUNT=1",
		// The burst is one user: no per-principal limit may refuse it.
		"RATE_LIMIT_API=1000000/min",
		"SHUTDOWN_DELAY=" + o.delay.String(),
		"SHUTDOWN_TIMEOUT=10s",
	}
	p.logf("rightsize migrate up")
	migrate := exec.CommandContext(ctx, rightsize, "migrate", "up")
	migrate.Env = env
	if out, err := migrate.CombinedOutput(); err != nil {
		return fmt.Errorf("migrate up: %v\n%s", err, out)
	}

	type instance struct {
		name       string
		args       []string
		port, metr int
	}
	instances := []instance{
		{"auth", []string{"serve", "--services", "auth", "--worker=false"}, ports[1], ports[2]},
		{"billing", []string{"serve", "--services", "billing", "--worker=false"}, ports[3], ports[4]},
		{"api-1", []string{"serve", "--services", "api", "--worker=false"}, ports[5], ports[6]},
		{"api-2", []string{"serve", "--services", "api", "--worker=false"}, ports[7], ports[8]},
		{"worker", []string{"worker"}, ports[9], ports[10]},
	}
	byName := map[string]*proc{}
	for _, in := range instances {
		e := append(append([]string(nil), env...),
			"PORT="+strconv.Itoa(in.port), "METRICS_ADDR=127.0.0.1:"+strconv.Itoa(in.metr))
		pr, err := start(p.dir, in.name, rightsize, in.args, e)
		if err != nil {
			return err
		}
		p.procs = append(p.procs, pr)
		byName[in.name] = pr
	}
	for _, in := range instances {
		if err := waitReady(ctx, byName[in.name], fmt.Sprintf("http://127.0.0.1:%d/ready", in.port)); err != nil {
			return err
		}
	}
	p.logf("auth, billing, api-1, api-2 and worker ready (PostgreSQL %s, mail to %s)", p.dbName, smtpAddr)

	upstreams := func(names ...string) string {
		var s []string
		for _, n := range names {
			for _, in := range instances {
				if in.name == n {
					s = append(s, "127.0.0.1:"+strconv.Itoa(in.port))
				}
			}
		}
		return strings.Join(s, " ")
	}
	cp, err := start(p.dir, "caddy", caddy, []string{"run", "--adapter", "caddyfile", "--config", caddyfile}, []string{
		"LISTEN=" + lbAddr,
		"BIND=127.0.0.1",
		"AUTH_UPSTREAMS=" + upstreams("auth"),
		"BILLING_UPSTREAMS=" + upstreams("billing"),
		"API_UPSTREAMS=" + upstreams("api-1", "api-2"),
		"HOME=" + p.dir,
		"XDG_CONFIG_HOME=" + filepath.Join(p.dir, "caddy-config"),
		"XDG_DATA_HOME=" + filepath.Join(p.dir, "caddy-data"),
	})
	if err != nil {
		return err
	}
	p.procs = append(p.procs, cp)
	if err := waitReady(ctx, cp, lb+"/ready"); err != nil {
		return err
	}
	p.logf("caddy on %s in front of them", lb)

	c := newClient(lb)
	if err := checkRouting(ctx, c, byName); err != nil {
		return fmt.Errorf("routing: %w", err)
	}
	p.logf("routing: each path reached its service")
	acct, err := signUp(ctx, c, sink)
	if err != nil {
		return fmt.Errorf("sign-up flow: %w", err)
	}
	p.logf("signed up %s, verified from the mail, logged in, made and listed %d orders", acct.email, len(acct.flowOrders))

	res, err := burst(ctx, c, acct, o, byName["api-1"], byName["api-2"], p.logf)
	if err != nil {
		return err
	}
	inDB, err := p.ordersInDB(ctx, acct.email)
	if err != nil {
		return err
	}
	return res.verify(acct, inDB, byName["api-1"], byName["api-2"], p.logf, time.Since(p.started))
}

// goBuild runs go build in the module's root.
func (p *proof) goBuild(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", append([]string{"build"}, args...)...)
	cmd.Dir = p.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// createDB creates a database with a random name on the admin server.
func (p *proof) createDB(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.opts.adminURL)
	if err != nil {
		return fmt.Errorf("PostgreSQL (%s): %w", p.opts.adminURL, err)
	}
	defer conn.Close(context.Background())
	name := "rightsize_proof_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	p.dbName = name
	cfg, err := pgx.ParseConfig(p.opts.adminURL)
	if err != nil {
		return err
	}
	p.dbURL = fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
	if cfg.Password != "" {
		return errors.New("-admin-url: use a server that trusts local connections (no password), as in CI")
	}
	return nil
}

// ordersInDB is the set of IDs of the orders of the user with email.
func (p *proof) ordersInDB(ctx context.Context, email string) (map[string]bool, error) {
	conn, err := pgx.Connect(ctx, p.dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx,
		"SELECT o.id FROM orders o JOIN users u ON u.id = o.user_id WHERE u.email = $1", email)
	if err != nil {
		return nil, fmt.Errorf("orders in the database: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("orders in the database: %w", err)
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set, nil
}

// printTails prints the end of every process's log, for a failure.
func (p *proof) printTails() {
	for _, pr := range p.procs {
		fmt.Fprintf(os.Stderr, "\n--- last lines of %s (%s)\n%s\n", pr.name, pr.log, pr.tail(15))
	}
}

// cleanup stops every process it started, Caddy (the last started) before
// the others, which stop all at once; then it drops the database and removes
// the work directory. It runs on every exit path.
func (p *proof) cleanup(failed bool) {
	if n := len(p.procs); n > 0 {
		p.procs[n-1].stop(12 * time.Second)
		var stops []func() error
		for _, pr := range p.procs[:n-1] {
			stops = append(stops, func() error { pr.stop(12 * time.Second); return nil })
		}
		group(stops...)
	}
	if p.dbName != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, p.opts.adminURL); err != nil {
			fmt.Fprintf(os.Stderr, "multiinstance: drop database %s: %v\n", p.dbName, err)
		} else {
			if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+p.dbName+" WITH (FORCE)"); err != nil {
				fmt.Fprintf(os.Stderr, "multiinstance: drop database %s: %v\n", p.dbName, err)
			}
			conn.Close(ctx)
		}
	}
	if p.dir != "" {
		if p.opts.keep || failed && os.Getenv("CI") == "" {
			fmt.Fprintf(os.Stderr, "multiinstance: logs kept in %s\n", p.dir)
		} else {
			os.RemoveAll(p.dir)
		}
	}
}

func randomBase64(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
