// Command load is the benchmark's load generator. A fixed number of
// keep-alive clients send the same GET request back to back, and it prints
// the throughput and latency percentiles of the answers.
//
// Given several targets, it loads one at a time and takes turns in short
// slices (-slice) until each has had -d, so that other work on the machine,
// which comes and goes, weighs on every target alike:
//
//	load -c 32 -d 10s -warmup 2s \
//	  -target 'ceiling|1234|http://127.0.0.1:8090/v1/me|X-User-ID: usr_…' \
//	  -target 'pg|1235|http://127.0.0.1:8080/v1/me|Authorization: Bearer …'
//
// A target is NAME|PID|URL followed by any number of |Header: value; PID is
// the process serving it, or 0. For each target it prints one line:
//
//	target=pg requests=123456 errors=0 rps=12345.6 p50_ms=2.31 p99_ms=7.80 max_ms=21.05 server_cpu_us=150.2
//
// requests and rps count 200 answers; errors counts anything else (another
// status, a transport error) and the percentiles are over the 200 answers.
// server_cpu_us (Linux, with a PID) is the CPU time, user and system, the
// serving process used while its target was loaded, per 200 answer: a figure
// that other work on the machine barely moves, unlike the throughput.
//
// It only sends to loopback addresses. load -free-ports N prints N free
// loopback TCP ports, one a line.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rightsize/rightsize/bench/internal/loadkit"
)

type target struct {
	name   string
	pid    int
	req    *http.Request
	client *http.Client

	latencies []time.Duration // of the 200 answers, measured slices only
	errors    int
	firstErr  error
	elapsed   time.Duration // measured
	cpu       time.Duration // the server's, measured
	cpuErr    error
}

type targetFlags []string

func (t *targetFlags) String() string     { return strings.Join(*t, " ") }
func (t *targetFlags) Set(v string) error { *t = append(*t, v); return nil }

func main() {
	var specs targetFlags
	flag.Var(&specs, "target", "NAME|PID|URL[|Header: value…] (repeatable; loopback URLs only)")
	conc := flag.Int("c", 32, "concurrent clients per target, each with its own keep-alive connection")
	dur := flag.Duration("d", 10*time.Second, "measured time per target")
	warm := flag.Duration("warmup", 2*time.Second, "unmeasured load per target before the measurement")
	slice := flag.Duration("slice", time.Second, "with several targets, how long each turn lasts")
	timeout := flag.Duration("timeout", 5*time.Second, "per-request timeout")
	freePorts := flag.Int("free-ports", 0, "print this many free loopback ports and exit")
	flag.Parse()

	if *freePorts > 0 {
		if err := loadkit.PrintFreePorts(*freePorts); err != nil {
			fatal(err)
		}
		return
	}
	if len(specs) == 0 || *conc < 1 || *dur <= 0 || *warm < 0 || *slice <= 0 {
		fatal(errors.New("want at least one -target, -c ≥ 1, -d > 0, -slice > 0, -warmup ≥ 0"))
	}
	var targets []*target
	for _, s := range specs {
		t, err := parseTarget(s, *conc, *timeout)
		if err != nil {
			fatal(err)
		}
		targets = append(targets, t)
	}

	for _, t := range targets {
		if *warm > 0 {
			var discard target
			run(t, &discard, *conc, *warm)
		}
	}
	// Turns until every target has had its measured time.
	for left := *dur; left > 0; left -= *slice {
		d := min(left, *slice)
		for _, t := range targets {
			cpu0, err0 := loadkit.CPUTime(t.pid)
			run(t, t, *conc, d)
			cpu1, err1 := loadkit.CPUTime(t.pid)
			t.cpu += cpu1 - cpu0
			t.cpuErr = errors.Join(t.cpuErr, err0, err1)
		}
	}

	for _, t := range targets {
		if t.firstErr != nil {
			fmt.Fprintf(os.Stderr, "load: %s: %d errors, the first: %v\n", t.name, t.errors, t.firstErr)
		}
		lat := t.latencies
		slices.Sort(lat)
		fmt.Printf("target=%s requests=%d errors=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f",
			t.name, len(lat), t.errors, float64(len(lat))/t.elapsed.Seconds(),
			ms(loadkit.Percentile(lat, 50)), ms(loadkit.Percentile(lat, 99)), ms(loadkit.Percentile(lat, 100)))
		switch {
		case t.pid == 0 || len(lat) == 0:
		case t.cpuErr != nil:
			fmt.Fprintf(os.Stderr, "load: %s: CPU time of %d: %v\n", t.name, t.pid, t.cpuErr)
		default:
			fmt.Printf(" server_cpu_us=%.1f", float64(t.cpu)/float64(time.Microsecond)/float64(len(lat)))
		}
		fmt.Println()
	}
}

func parseTarget(spec string, conc int, timeout time.Duration) (*target, error) {
	parts := strings.Split(spec, "|")
	if len(parts) < 3 || parts[0] == "" {
		return nil, fmt.Errorf("-target %q: want NAME|PID|URL[|Header: value…]", spec)
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid < 0 {
		return nil, fmt.Errorf("-target %q: PID: want a process id or 0", spec)
	}
	u, err := url.Parse(parts[2])
	if err != nil || u.Host == "" || u.Scheme != "http" {
		return nil, fmt.Errorf("-target %q: want an absolute http URL", spec)
	}
	if err := loadkit.CheckLoopback(u.Hostname()); err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	for _, h := range parts[3:] {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return nil, fmt.Errorf("-target %s: header %q: want 'Name: value'", parts[0], h)
		}
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return &target{
		name: parts[0],
		pid:  pid,
		req:  req,
		client: &http.Client{
			Timeout: timeout,
			Transport: &http.Transport{
				Proxy:               nil, // loopback only, never through a proxy
				MaxIdleConnsPerHost: conc,
				MaxConnsPerHost:     conc,
				IdleConnTimeout:     time.Minute,
				DisableCompression:  true,
			},
		},
	}, nil
}

// run keeps conc clients busy on t for d, each sending its next request as
// soon as the previous answer has been read and none starting one after d,
// and adds what they saw to into.
func run(t, into *target, conc int, d time.Duration) {
	start := time.Now()
	end := start.Add(d)
	per := make([]target, conc)
	var wg sync.WaitGroup
	for i := range per {
		wg.Go(func() {
			res := &per[i]
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				if err := do(t.client, t.req); err != nil {
					res.errors++
					if res.firstErr == nil {
						res.firstErr = err
					}
					continue
				}
				res.latencies = append(res.latencies, time.Since(t0))
			}
		})
	}
	wg.Wait()
	into.elapsed += time.Since(start)
	for _, r := range per {
		into.latencies = append(into.latencies, r.latencies...)
		into.errors += r.errors
		if into.firstErr == nil {
			into.firstErr = r.firstErr
		}
	}
}

func do(client *http.Client, req *http.Request) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	// Read the whole body so the connection is reused.
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "load:", err)
	os.Exit(2)
}
