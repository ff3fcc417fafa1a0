// Package stripemock runs stripe-mock, Stripe's API mock, for tests: one
// process per test binary, built from the version pinned as a tool in go.mod.
//
// stripe-mock answers every documented endpoint from fixtures and validates
// request parameters against its OpenAPI spec, rejecting unknown ones. It
// keeps no state: a retrieve does not return what a create stored.
package stripemock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Timeouts for each step of starting. Building is the slow one: with an empty
// build cache it compiles stripe-mock and its dependencies.
const (
	buildTimeout = 5 * time.Minute
	readyTimeout = time.Minute
)

// server is the one stripe-mock of this test binary.
var server struct {
	mu   sync.Mutex
	err  error // why starting failed; later calls fail alike without retrying
	proc *process
}

// Start returns the base URL of this test binary's stripe-mock, such as
// "http://127.0.0.1:PORT", starting it on the first call. It fails tb if
// stripe-mock cannot be built or started, or has since exited.
//
// The process lives until [Stop] or until the test binary exits; tests share
// it, and it keeps no state between requests.
func Start(tb testing.TB) (url string) {
	tb.Helper()
	server.mu.Lock()
	defer server.mu.Unlock()
	if server.err == nil && server.proc == nil {
		server.proc, server.err = start()
	}
	if server.err != nil {
		tb.Fatalf("stripemock: %v", server.err)
	}
	select {
	case <-server.proc.exited:
		tb.Fatalf("stripemock: stripe-mock exited: %v\n%s", server.proc.waitErr, server.proc.output())
	default:
	}
	return "http://" + server.proc.addr
}

// Stop kills stripe-mock, if it is running, and waits for it to exit. Call it
// from TestMain after m.Run; a later [Start] starts a new one. Should the
// test binary die without calling Stop, the kernel kills stripe-mock with it
// (on Linux).
func Stop() {
	server.mu.Lock()
	defer server.mu.Unlock()
	if server.proc != nil {
		server.proc.kill()
	}
	server.err, server.proc = nil, nil
}

// process is a running stripe-mock.
type process struct {
	cmd     *exec.Cmd
	addr    string        // host:port of its HTTP listener
	exited  chan struct{} // closed once it has exited, after waitErr is set
	waitErr error         // from cmd.Wait

	mu   sync.Mutex
	tail []string // its last lines of output, for error messages
}

func start() (*process, error) {
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	p, err := launch(ctx, bin)
	if err != nil {
		return nil, err
	}
	if err := p.waitReady(ctx); err != nil {
		p.kill()
		return nil, fmt.Errorf("%w\n%s", err, p.output())
	}
	return p, nil
}

// binary builds stripe-mock, at the version go.mod pins, if the build cache
// lacks it, and returns the executable's path.
func binary() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	gomod, err := goCmd(ctx, "", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	// -n prints the path of the tool's executable, which it first builds
	// into the build cache.
	return goCmd(ctx, filepath.Dir(gomod), "tool", "-n", "stripe-mock")
}

// goCmd runs the go command in dir and returns its trimmed output. go test
// puts its own toolchain first on PATH.
func goCmd(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			stderr = ee.Stderr
		}
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.TrimSpace(string(out)), nil
}

// launch starts stripe-mock and returns once it has said which port it
// listens on.
func launch(ctx context.Context, bin string) (*process, error) {
	// Port 0 lets the kernel choose, so no port can collide; stripe-mock
	// prints the one chosen. With -http-addr alone it would also serve HTTPS
	// on :12112 on every interface, so HTTPS is pinned to loopback as well.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	cmd.SysProcAttr = sysProcAttr()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	p := &process{cmd: cmd, exited: make(chan struct{})}

	// Pdeathsig fires when the thread that started the child exits, not when
	// the process does, so the starting goroutine keeps its thread for as
	// long as the child runs.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	err = <-started
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}

	// Output is read for as long as stripe-mock runs, so that it never
	// blocks on a full pipe.
	addr := make(chan string, 1)
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			p.record(line)
			if a, ok := strings.CutPrefix(line, "Listening for HTTP at address: "); ok {
				select {
				case addr <- a:
				default:
				}
			}
		}
	}()

	select {
	case p.addr = <-addr:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("stripe-mock exited before listening: %v\n%s", p.waitErr, p.output())
	case <-ctx.Done():
		p.kill()
		return nil, fmt.Errorf("stripe-mock did not listen within %v\n%s", readyTimeout, p.output())
	}
}

// waitReady returns once stripe-mock answers HTTP requests.
func (p *process) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+"/", nil)
		if err != nil {
			return err
		}
		// Any answer will do: without a key it is a 401.
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("stripe-mock exited: %v", p.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("stripe-mock did not answer at %s within %v: %w", p.addr, readyTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// kill kills the process and waits for it to exit.
func (p *process) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

const tailLines = 20

func (p *process) record(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tail = append(p.tail, line)
	if len(p.tail) > tailLines {
		p.tail = p.tail[len(p.tail)-tailLines:]
	}
}

// output returns the last lines stripe-mock printed.
func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}
