package main_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/app/apptest"
	"github.com/rightsize/rightsize/internal/platform/authn"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

// binary is the real rightsize, built once for these tests, with the
// rightsize_testhooks tag that adds one slow route, and stamped with
// release the way the Dockerfile stamps it.
var binary string

const (
	release = "v9.8.7-test"
	commit  = "0123456789abcdef0123456789abcdef01234567"
	built   = "2026-12-05T05:00:00Z"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rightsize-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "rightsize")
	build := exec.Command("go", "build", "-tags", "rightsize_testhooks",
		"-ldflags", "-X github.com/rightsize/rightsize/internal/app.Version="+release+
			" -X github.com/rightsize/rightsize/internal/app.Commit="+commit+
			" -X github.com/rightsize/rightsize/internal/app.Built="+built, "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build rightsize:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running rightsize process.
type proc struct {
	cmd  *exec.Cmd
	api  string
	mu   sync.Mutex
	out  []string // stdout lines so far
	done chan struct{}
	err  error // from Wait, once done is closed
}

// env returns a minimal environment for the binary: nothing of the test
// runner's own but PATH and HOME, plus vars.
func env(vars map[string]string) []string {
	e := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range vars {
		e = append(e, k+"="+v)
	}
	return e
}

func start(t *testing.T, vars map[string]string, args ...string) *proc {
	t.Helper()
	port := testkit.FreePort(t)
	all := map[string]string{"PORT": fmt.Sprint(port), "METRICS_ADDR": "127.0.0.1:0"}
	for k, v := range vars {
		all[k] = v
	}
	p := &proc{cmd: exec.Command(binary, args...), api: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan struct{})}
	p.cmd.Env = env(all)
	// The working directory is the test's own, so the default DATA_DIR
	// (./data) is a fresh one.
	p.cmd.Dir = t.TempDir()
	p.cmd.Stderr = os.Stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.out = append(p.out, sc.Text())
			p.mu.Unlock()
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	p.waitLog(t, "listening") // `"msg":"listening"` in JSON, msg=listening in text
	return p
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.out, "\n")
}

// records returns the JSON log lines written so far, decoded; other lines
// (the development banner) are skipped.
func (p *proc) records() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var recs []map[string]any
	for _, line := range p.out {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			recs = append(recs, m)
		}
	}
	return recs
}

// record returns the only log record with msg, failing t unless there is
// exactly one.
func (p *proc) record(t *testing.T, msg string) map[string]any {
	t.Helper()
	recs := p.records()
	var found []map[string]any
	for _, r := range recs {
		if r["msg"] == msg {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("got %d log lines with msg %q, want 1; logs:\n%s", len(found), msg, p.logs())
	}
	return found[0]
}

// count returns how many log records have msg.
func (p *proc) count(msg string) int {
	recs := p.records()
	n := 0
	for _, r := range recs {
		if r["msg"] == msg {
			n++
		}
	}
	return n
}

func (p *proc) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(p.logs(), s) {
		select {
		case <-p.done:
			t.Fatalf("rightsize exited (%v) before logging %s; logs:\n%s", p.err, s, p.logs())
		case <-deadline:
			t.Fatalf("no log line with %s; logs:\n%s", s, p.logs())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// wait returns the process's exit error once it has exited, failing the test
// if that takes longer than within.
func (p *proc) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(within):
		t.Fatalf("rightsize still running %v after SIGTERM; logs:\n%s", within, p.logs())
		return nil
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// A fresh clone needs no set-up: with no variables at all the default
// ./data (SQLite) is created, or an empty PostgreSQL database is migrated, at
// start-up and served.
func TestFreshStart(t *testing.T) {
	t.Parallel()
	vars := map[string]string{}
	if testkit.Dialect() == "postgres" {
		vars["DATABASE_URL"] = testkit.EmptyDatabaseURL(t)
	}
	p := start(t, vars)
	if got := status(t, p.api+"/health"); got != 200 {
		t.Errorf("/health: got %d, want 200", got)
	}
	if got := status(t, p.api+"/ready"); got != 200 {
		t.Errorf("/ready: got %d, want 200", got)
	}

	// In development a first start is quiet: no config line, one line
	// counting the migrations (each is at DEBUG), the listening line with
	// both addresses, then a short text banner for the developer.
	if n := p.count("starting"); n != 0 {
		t.Errorf("got %d starting lines in development, want none", n)
	}
	if n := p.count("migrated"); n != 0 {
		t.Errorf("got %d per-migration lines at INFO in development, want none", n)
	}
	applied := p.record(t, "migrations applied")
	if n, _ := applied["app"].(float64); n < 1 {
		t.Errorf("migrations applied: got app=%v, want at least 1", applied["app"])
	}
	if n, _ := applied["river"].(float64); n < 1 {
		t.Errorf("migrations applied: got river=%v, want at least 1", applied["river"])
	}
	// Not a terminal, so JSON logs, and nothing but JSON: the banner is for
	// text logs (TestBannerOnTextLogs).
	for _, line := range strings.Split(strings.TrimSpace(p.logs()), "\n") {
		if !strings.HasPrefix(line, "{") {
			t.Errorf("a JSON log stream holds a line that is not JSON: %q", line)
		}
	}
	listening := p.record(t, "listening")
	if addr, _ := listening["addr"].(string); !strings.HasSuffix(addr, ":"+strings.TrimPrefix(p.api, "http://127.0.0.1:")) {
		t.Errorf("listening: got addr %q, want the PORT's", addr)
	}
	metricsAddr, _ := listening["metrics_addr"].(string)
	if metricsAddr == "" {
		t.Errorf("listening: no metrics_addr in %v", listening)
	} else if got := status(t, "http://"+metricsAddr+"/metrics"); got != 200 {
		t.Errorf("/metrics at the logged metrics_addr: got %d, want 200", got)
	}

	if _, err := os.Stat(filepath.Join(p.cmd.Dir, "data", "rightsize.db")); testkit.Dialect() == "sqlite" && err != nil {
		t.Errorf("default SQLite file: %v", err)
	}
	migrate := exec.Command(binary, "migrate", "status")
	migrate.Env = env(vars)
	migrate.Dir = p.cmd.Dir
	out, err := migrate.CombinedOutput()
	if err != nil {
		t.Fatalf("migrate status: %v\n%s", err, out)
	}
	// Logs share stdout with the table: a slow query's WARN on a loaded
	// machine comes before the header, so only the table's lines count.
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(line, "{") && !strings.HasPrefix(line, "SOURCE") {
			rows = append(rows, line)
		}
	}
	sources := map[string]int{}
	for _, row := range rows {
		f := strings.Fields(row)
		if len(f) < 4 || !slices.Contains(f, "applied") {
			t.Errorf("migrate status row %q: want it applied", row)
			continue
		}
		sources[f[0]]++
	}
	if sources["app"] == 0 || sources["river"] == 0 {
		t.Errorf("migrate status: got\n%s\nwant every migration listed, River's included", out)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(t, 20*time.Second); err != nil {
		t.Errorf("exit: got %v, want status 0", err)
	}
	if _, ok := p.record(t, "shut down")["duration_ms"].(float64); !ok {
		t.Errorf("shut down line without a numeric duration_ms; logs:\n%s", p.logs())
	}
}

// textAfter returns the non-JSON lines written after the first line
// containing after, or all of them if after is "".
func (p *proc) textAfter(after string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var text []string
	seen := after == ""
	for _, line := range p.out {
		switch {
		case !seen:
			seen = strings.Contains(line, after)
		case !strings.HasPrefix(line, "{"):
			text = append(text, line)
		}
	}
	return strings.Join(text, "\n")
}

// In production the process says what it runs with before anything else,
// logs each migration it applies, and writes nothing but JSON log lines.
func TestProductionStartLogs(t *testing.T) {
	t.Parallel()
	seed, err := authn.GenerateSeed()
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	p := start(t, map[string]string{
		"ENV":              "production",
		"DATABASE_URL":     testkit.EmptyDatabaseURL(t),
		"SMTP_URL":         testkit.SMTPServer(t).URL(),
		"PUBLIC_URL":       "https://app.example.com",
		"AUTH_SIGNING_KEY": seed,
		"CURSOR_SECRET":    hex.EncodeToString(secret),
	})
	recs := p.records()
	if len(recs) == 0 || recs[0]["msg"] != "starting" {
		t.Errorf("want the starting line first; logs:\n%s", p.logs())
	}
	if starting := p.record(t, "starting"); starting["config"] == nil || starting["version"] == nil {
		t.Errorf("starting line %v: want its version and config", starting)
	}
	if n := p.count("migrated"); n < 2 {
		t.Errorf("got %d per-migration lines, want one per migration applied (app's and River's)", n)
	}
	p.record(t, "listening")
	if text := p.textAfter(""); text != "" {
		t.Errorf("got non-JSON output in production %q, want log lines only", text)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(t, 20*time.Second); err != nil {
		t.Errorf("exit: got %v, want status 0", err)
	}
}

// SIGTERM with a request in flight: the request completes, /ready turns 503
// while the listener drains (SHUTDOWN_DELAY), then new connections are
// refused, and the process exits 0 within SHUTDOWN_TIMEOUT.
func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	t.Parallel()
	const shutdownTimeout = 15 * time.Second
	p := start(t, map[string]string{
		"DATABASE_URL":     apptest.DatabaseURL(t),
		"SHUTDOWN_DELAY":   "1s",
		"SHUTDOWN_TIMEOUT": shutdownTimeout.String(),
	})

	type result struct {
		code int
		body string
		err  error
	}
	slow := make(chan result, 1)
	go func() {
		res, err := http.Get(p.api + "/_test/slow?for=3s")
		if err != nil {
			slow <- result{err: err}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		slow <- result{code: res.StatusCode, body: string(b)}
	}()
	p.waitLog(t, "test: slow request started")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	p.waitLog(t, `"msg":"shutting down"`)

	// Still accepting during SHUTDOWN_DELAY, but no longer ready.
	if got := status(t, p.api+"/ready"); got != http.StatusServiceUnavailable {
		t.Errorf("/ready after SIGTERM: got %d, want 503", got)
	}
	if got := status(t, p.api+"/health"); got != 200 {
		t.Errorf("/health after SIGTERM: got %d, want 200", got)
	}

	// Then the listener closes while the slow request is still running.
	addr := strings.TrimPrefix(p.api, "http://")
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("dial after drain: got %v, want connection refused", err)
			}
			break
		}
		c.Close()
		select {
		case r := <-slow:
			t.Fatalf("the slow request ended (%d, %v) before the listener closed", r.code, r.err)
		case <-time.After(20 * time.Millisecond):
		}
	}

	r := <-slow
	if r.err != nil || r.code != 200 || !strings.Contains(r.body, "3s") {
		t.Errorf("in-flight request: got %d %q (err %v), want 200 with its result", r.code, r.body, r.err)
	}
	if err := p.wait(t, shutdownTimeout-time.Since(signalled)+2*time.Second); err != nil {
		t.Errorf("exit: got %v, want status 0", err)
	}
	if !strings.Contains(p.logs(), `"msg":"shut down"`) {
		t.Errorf("no clean shutdown line in logs:\n%s", p.logs())
	}
}

// Every bad value stops start-up with exit status 2 and names its variable.
func TestBadConfigurationExits2(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, value string }{
		{"PORT", "0"},
		{"PORT", "http"},
		{"DATA_DIR", file},
		{"DATABASE_URL", "mysql://localhost/app"},
		{"ENV", "staging"},
		{"LOG_LEVEL", "loud"},
		{"REQUEST_TIMEOUT", "ten"},
		{"SHUTDOWN_TIMEOUT", "-1s"},
		{"SHUTDOWN_DELAY", "forever"},
		{"DB_QUERY_TIMEOUT", "0s"},
		{"SLOW_QUERY_MS", "fast"},
		{"METRICS_ADDR", "9090"},
		{"AUTO_MIGRATE", "maybe"},
		{"DB_MAX_OPEN_CONNS", "0"},
		{"DB_MAX_IDLE_CONNS", "-1"},
		{"DB_CONN_MAX_LIFETIME", "1 hour"},
		{"SERVICES", "auth billing"},
		{"SERVICES", "nosuchservice"},
		{"WORKER", "sometimes"},
		{"WORKER_CONCURRENCY", "0"},
		{"SMTP_URL", "http://mail.example.com"},
		{"MAIL_FROM", "not an address"},
		{"OUTBOUND_TIMEOUT", "5"},
		{"MAX_BODY_BYTES", "1MB"},
		{"CURSOR_SECRET", "short"},
		{"TLS_KEY_FILE", "/etc/key.pem"}, // without TLS_CERT_FILE, which the error names
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			// A bad value stops start-up at once; the timeout only keeps a
			// regression from hanging the suite.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary)
			vars := map[string]string{"DATA_DIR": t.TempDir()}
			vars[tt.name] = tt.value
			cmd.Env = env(vars)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("got %v, want exit status 2; output:\n%s", err, out)
			}
			want := tt.name
			if want == "TLS_KEY_FILE" {
				want = "TLS_CERT_FILE"
			}
			if !strings.Contains(string(out), want+":") || !strings.Contains(string(out), "want ") {
				t.Errorf("got output\n%s\nwant it to name %s", out, want)
			}
		})
	}

	t.Run("production without CURSOR_SECRET", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary)
		cmd.Env = env(map[string]string{"ENV": "production", "DATA_DIR": t.TempDir()})
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "CURSOR_SECRET") {
			t.Errorf("got %v\n%s\nwant exit 2 naming CURSOR_SECRET", err, out)
		}
	})
}

// A request that outlasts SHUTDOWN_TIMEOUT does not hold the process: it
// exits 1 at the deadline and says the shutdown was incomplete.
func TestSIGTERMGivesUpAtShutdownTimeout(t *testing.T) {
	t.Parallel()
	p := start(t, map[string]string{"DATABASE_URL": apptest.DatabaseURL(t), "SHUTDOWN_TIMEOUT": "2s"})
	go http.Get(p.api + "/_test/slow?for=60s")
	p.waitLog(t, "test: slow request started")
	p.cmd.Process.Signal(syscall.SIGTERM)
	err := p.wait(t, 20*time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("exit: got %v, want status 1", err)
	}
	if !strings.Contains(p.logs(), `"msg":"shutdown incomplete"`) {
		t.Errorf("no shutdown incomplete line in logs:\n%s", p.logs())
	}
}

// With text logs in development, the first screen is a short banner naming
// the API, the metrics and where mail goes.
func TestBannerOnTextLogs(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"LOG_FORMAT": "text"}
	if testkit.Dialect() == "postgres" {
		vars["DATABASE_URL"] = testkit.EmptyDatabaseURL(t)
	}
	p := start(t, vars)
	p.waitLog(t, "/metrics") // the banner's metrics line, written just after listening
	banner := p.textAfter("msg=listening")
	for _, want := range []string{"API", "/metrics", "SMTP_URL is unset", "rightsize config"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner %q lacks %q", banner, want)
		}
	}
}

// The release stamped at build time reaches `rightsize version` and /health,
// and `rightsize healthcheck` (for probes from inside the container) succeeds
// only while the server is ready: during the shutdown delay it fails, as it
// does where nothing listens.
func TestBuildMetadataAndHealthcheck(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(binary, "version").Output()
	wantVersion := "rightsize " + release + " (commit " + commit[:12] + ", built " + built + ", go"
	if err != nil || !strings.HasPrefix(string(out), wantVersion) {
		t.Errorf("version: got %q, %v; want it to start with %q", out, err, wantVersion)
	}

	vars := map[string]string{"SHUTDOWN_DELAY": "3s", "SHUTDOWN_TIMEOUT": "10s"}
	if testkit.Dialect() == "postgres" {
		vars["DATABASE_URL"] = testkit.EmptyDatabaseURL(t)
	}
	p := start(t, vars)
	res, err := http.Get(p.api + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var health map[string]string
	err = json.NewDecoder(res.Body).Decode(&health)
	res.Body.Close()
	if err != nil || health["status"] != "ok" || health["version"] != release || health["commit"] != commit[:12] || health["built"] != built {
		t.Errorf("/health: got %v, %v; want status ok, version %s, commit %s, built %s", health, err, release, commit[:12], built)
	}

	port := strings.TrimPrefix(p.api, "http://127.0.0.1:")
	healthcheck := func(port string, args ...string) (int, string) {
		cmd := exec.Command(binary, append([]string{"healthcheck"}, args...)...)
		cmd.Env = env(map[string]string{"PORT": port})
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return 0, string(out)
		case errors.As(err, &exit):
			return exit.ExitCode(), string(out)
		}
		t.Fatalf("healthcheck %v: %v", args, err)
		return 0, ""
	}
	for _, args := range [][]string{nil, {"/ready"}, {"/health"}} {
		if code, out := healthcheck(port, args...); code != 0 {
			t.Errorf("healthcheck %v on a ready server: exit %d (%s), want 0", args, code, out)
		}
	}
	// Docker reserves exit status 2: every failure is 1.
	if code, out := healthcheck(port, "/metrics"); code != 1 || !strings.Contains(out, "/ready") {
		t.Errorf("healthcheck /metrics: exit %d (%s), want 1 naming the paths it takes", code, out)
	}
	// PORT as the server reads it: "+N" is no port to either.
	if code, out := healthcheck("+" + port); code != 1 || !strings.Contains(out, "PORT") {
		t.Errorf("healthcheck with PORT=+%s: exit %d (%s), want 1 naming PORT", port, code, out)
	}
	// A redirect is not a 200, and is not followed.
	redirect := httptest.NewServer(http.RedirectHandler("/health", http.StatusFound))
	defer redirect.Close()
	if code, out := healthcheck(strings.TrimPrefix(redirect.URL, "http://127.0.0.1:")); code != 1 || !strings.Contains(out, "302") {
		t.Errorf("healthcheck against a redirect: exit %d (%s), want 1 naming the 302", code, out)
	}
	if code, out := healthcheck(fmt.Sprint(testkit.FreePort(t))); code != 1 || !strings.Contains(out, "refused") {
		t.Errorf("healthcheck where nothing listens: exit %d (%s), want 1, connection refused", code, out)
	}

	// SIGTERM: /ready turns 503 for SHUTDOWN_DELAY while /health stays up.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, "shutting down")
	if code, out := healthcheck(port); code != 1 || !strings.Contains(out, "503") {
		t.Errorf("healthcheck while shutting down: exit %d (%s), want 1 naming the 503", code, out)
	}
	if code, out := healthcheck(port, "/health"); code != 0 {
		t.Errorf("healthcheck /health while shutting down: exit %d (%s), want 0", code, out)
	}
	if err := p.wait(t, 15*time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}
