package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process in its own process group, its output in a file.
type proc struct {
	name string
	log  string // path of its stdout and stderr
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error         // cmd.Wait's, once done is closed
	exit time.Time     // when it exited
}

// start runs bin with args and exactly env (nothing inherited), its output
// appended to dir/name.log.
func start(dir, name, bin string, args, env []string) (*proc, error) {
	path := dir + "/" + name + ".log"
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own copy
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, log: path, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		p.exit = time.Now()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitCode is the process's exit status, or -1 if a signal ended it.
func (p *proc) exitCode() int { return p.cmd.ProcessState.ExitCode() }

// signal sends sig to the process's whole group.
func (p *proc) signal(sig syscall.Signal) {
	if !p.exited() {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// stop sends SIGTERM to the group, then SIGKILL if it has not exited within
// grace, and waits for it.
func (p *proc) stop(grace time.Duration) {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	// Whatever the leader left in its group.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// tail is the last n lines of the process's log.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logLine is the part of a rightsize JSON log line the proof reads.
type logLine struct {
	Msg       string `json:"msg"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Status    int    `json:"status"`
	RequestID string `json:"request_id"`
	ClientIP  string `json:"client_ip"`
}

// logLines decodes every JSON line of the process's log; other lines are
// skipped.
func (p *proc) logLines() ([]logLine, error) {
	f, err := os.Open(p.log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

// orderRequests counts the requests to /v1/orders and below in the
// process's access log.
func (p *proc) orderRequests() (int, error) {
	lines, err := p.logLines()
	n := 0
	for _, l := range lines {
		if l.Msg == "request" && strings.HasPrefix(l.Path, "/v1/orders") {
			n++
		}
	}
	return n, err
}

// logged reports whether the process logged a line with message msg.
func (p *proc) logged(msg string) bool {
	lines, _ := p.logLines()
	for _, l := range lines {
		if l.Msg == msg {
			return true
		}
	}
	return false
}

// freePorts returns n distinct free TCP ports on 127.0.0.1, held open until
// all are chosen.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// waitReady polls url until it answers 200, failing early if p exits.
func waitReady(ctx context.Context, p *proc, url string) error {
	client := &http.Client{Timeout: time.Second}
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("%s exited before %s answered 200: %v", p.name, url, p.err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready (%v): %w", url, last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// group runs functions at once and returns their errors joined.
func group(fns ...func() error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(fns))
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	wg.Wait()
	return errors.Join(errs...)
}
