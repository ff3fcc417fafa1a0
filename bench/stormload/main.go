// Command stormload is bench/storm's load generator: it measures how an
// authenticated read fares while a storm of logins keeps every password
// hashing slot busy.
//
// It runs a warm-up (-warmup, -read-c clients on the read, not measured),
// then these phases of -d each, on loopback only (-phases picks and orders
// them):
//
//   - alone: -read-c clients on the read (GET -read), nothing else;
//   - polite: the same, while -login-c clients send POST -login in a loop,
//     each body {"email":"storm-<random>@example.com","password":"<random>"},
//     an unknown address every time, so that each attempt costs one argon2id
//     verification (of the dummy hash) and none is throttled as a repeated
//     failure; a client that gets a 503 waits its Retry-After, as a well
//     behaved client would;
//   - flood: the same storm, but no client ever waits, as an attacker would:
//     besides the hashing, the server answers as many 503s as it can.
//
// Every client has its own keep-alive connection and, unless it waits a
// Retry-After, sends its next request as soon as the previous answer is read.
// It prints one table: for each phase and request, the answers by status with
// their count, rate and latency (p50, p99, max); then the CPU the server
// (-pid) and the load generator used in each phase, in cores. With
// -profile-url it also fetches a CPU profile of the server over the phase
// -profile-phase, into -profile-out.
//
//	stormload -pid 1234 -read http://127.0.0.1:8080/v1/me -H 'Authorization: Bearer …' \
//	  -login http://127.0.0.1:8080/v1/auth/login -d 15s
//
// stormload -free-ports N prints N free loopback TCP ports, one a line;
// stormload -gomaxprocs prints the GOMAXPROCS a Go program gets here.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rightsize/rightsize/bench/internal/loadkit"
)

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	var headers headerFlags
	readURL := flag.String("read", "", "URL of the authenticated read (GET)")
	flag.Var(&headers, "H", "'Name: value' header of the read (repeatable)")
	readC := flag.Int("read-c", 8, "clients on the read")
	loginURL := flag.String("login", "", "URL of the login (POST)")
	loginC := flag.Int("login-c", 200, "clients in the login storm")
	dur := flag.Duration("d", 15*time.Second, "length of each phase")
	phaseList := flag.String("phases", "alone,polite,flood", "the phases to run, in order, comma-separated")
	warm := flag.Duration("warmup", time.Second, "unmeasured read before the first phase")
	timeout := flag.Duration("timeout", 10*time.Second, "per-request timeout")
	pid := flag.Int("pid", 0, "the server's process id, for its CPU time (0: not measured)")
	profileURL := flag.String("profile-url", "", "pprof CPU profile URL of the server (…/debug/pprof/profile)")
	profilePhase := flag.String("profile-phase", "flood", "the phase -profile-url profiles")
	profileOut := flag.String("profile-out", "cpu.pprof", "where -profile-url's profile goes")
	freePorts := flag.Int("free-ports", 0, "print this many free loopback ports and exit")
	gomaxprocs := flag.Bool("gomaxprocs", false, "print GOMAXPROCS as a Go program started here sees it, and exit")
	flag.Parse()

	switch {
	case *gomaxprocs:
		fmt.Println(runtime.GOMAXPROCS(0))
		return
	case *freePorts > 0:
		if err := loadkit.PrintFreePorts(*freePorts); err != nil {
			fatal(err)
		}
		return
	}

	if *readURL == "" || *loginURL == "" || *readC < 1 || *loginC < 1 || *dur <= 0 || *warm < 0 {
		fatal(errors.New("want -read and -login URLs, -read-c and -login-c ≥ 1, -d > 0, -warmup ≥ 0"))
	}
	phases := strings.Split(*phaseList, ",")
	for _, ph := range phases {
		if ph != "alone" && ph != "polite" && ph != "flood" {
			fatal(fmt.Errorf("-phases %q: want alone, polite or flood, comma-separated", *phaseList))
		}
	}
	if *profileURL != "" && !slices.Contains(phases, *profilePhase) {
		fatal(fmt.Errorf("-profile-phase %q is not one of -phases %q", *profilePhase, *phaseList))
	}
	read, err := newRequest(http.MethodGet, *readURL)
	if err != nil {
		fatal(err)
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			fatal(fmt.Errorf("-H %q: want 'Name: value'", h))
		}
		read.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	login, err := newRequest(http.MethodPost, *loginURL)
	if err != nil {
		fatal(err)
	}
	login.Header.Set("Content-Type", "application/json")
	if *profileURL != "" {
		if _, err := newRequest(http.MethodGet, *profileURL); err != nil {
			fatal(err)
		}
	}
	readClient, loginClient := newClient(*readC, *timeout), newClient(*loginC, *timeout)

	var rows []row
	var cpu []string
	var profileErr error
	if *warm > 0 {
		runGroup(readClient, read, nil, false, *readC, *warm)
	}
	for _, ph := range phases {
		cpu = append(cpu, ph+": "+measure(*pid, func() {
			var wg sync.WaitGroup
			var readRes, loginRes *result
			wg.Go(func() { readRes = runGroup(readClient, read, nil, false, *readC, *dur) })
			if ph != "alone" {
				wg.Go(func() { loginRes = runGroup(loginClient, login, loginBody, ph == "polite", *loginC, *dur) })
			}
			if *profileURL != "" && ph == *profilePhase {
				wg.Go(func() { profileErr = fetchProfile(*profileURL, *profileOut, *dur) })
			}
			wg.Wait()
			rows = append(rows, readRes.rows(ph, "GET "+read.URL.Path, *readC)...)
			if loginRes != nil {
				rows = append(rows, loginRes.rows(ph, "POST "+login.URL.Path, *loginC)...)
			}
		}))
	}

	fmt.Printf("%-6s %-20s %7s %-6s %8s %8s %8s %8s %8s\n",
		"phase", "request", "clients", "answer", "count", "per s", "p50 ms", "p99 ms", "max ms")
	for _, r := range rows {
		fmt.Printf("%-6s %-20s %7d %-6s %8d %8.1f %8s %8s %8s\n",
			r.phase, r.request, r.clients, r.answer, len(r.lat), float64(len(r.lat))/r.elapsed.Seconds(),
			msOrDash(r.lat, 50), msOrDash(r.lat, 99), msOrDash(r.lat, 100))
	}
	fmt.Printf("CPU used, in cores: %s\n", strings.Join(cpu, "; "))
	for _, r := range rows {
		if r.firstErr != nil {
			fmt.Fprintf(os.Stderr, "stormload: %s %s %s, the first: %v\n", r.phase, r.request, r.answer, r.firstErr)
		}
	}
	if profileErr != nil {
		fatal(fmt.Errorf("CPU profile: %w", profileErr))
	}
}

// loginBody is a login for an address nobody has, with a random password.
func loginBody() []byte {
	return fmt.Appendf(nil, `{"email":"storm-%016x@example.com","password":"wrong password %016x"}`, rand.Uint64(), rand.Uint64())
}

func newRequest(method, raw string) (*http.Request, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Scheme != "http" {
		return nil, fmt.Errorf("%q: want an absolute http URL", raw)
	}
	if err := loadkit.CheckLoopback(u.Hostname()); err != nil {
		return nil, err
	}
	return http.NewRequest(method, u.String(), nil)
}

func newClient(conns int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil, // loopback only, never through a proxy
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

// result is what the clients of one group saw: latencies by answer ("200",
// "401", "503", … or "error" for a transport error).
type result struct {
	lat      map[string][]time.Duration
	firstErr map[string]error
	elapsed  time.Duration
}

// runGroup keeps conc clients busy on req for d, each sending its next
// request as soon as the previous answer has been read (or, if polite and
// the answer was a 503, once its Retry-After has passed), none starting one
// after d. body, when not nil, makes each request's body.
func runGroup(client *http.Client, req *http.Request, body func() []byte, polite bool, conc int, d time.Duration) *result {
	start := time.Now()
	end := start.Add(d)
	per := make([]result, conc)
	var wg sync.WaitGroup
	for i := range per {
		wg.Go(func() {
			res := &per[i]
			res.lat, res.firstErr = map[string][]time.Duration{}, map[string]error{}
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				r := req.Clone(req.Context())
				if body != nil {
					b := body()
					r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
				}
				answer, wait, err := do(client, r)
				res.lat[answer] = append(res.lat[answer], time.Since(t0))
				if err != nil && res.firstErr[answer] == nil {
					res.firstErr[answer] = err
				}
				if polite && wait > 0 {
					time.Sleep(min(wait, time.Until(end)))
				}
			}
		})
	}
	wg.Wait()
	all := &result{lat: map[string][]time.Duration{}, firstErr: map[string]error{}, elapsed: time.Since(start)}
	for _, r := range per {
		for a, l := range r.lat {
			all.lat[a] = append(all.lat[a], l...)
		}
		for a, err := range r.firstErr {
			if all.firstErr[a] == nil {
				all.firstErr[a] = err
			}
		}
	}
	return all
}

// do sends req and reads the whole answer, so that the connection is reused,
// and returns its status code, or "error" with the error, and for a 503 its
// Retry-After.
func do(client *http.Client, req *http.Request) (answer string, retryAfter time.Duration, err error) {
	resp, err := client.Do(req)
	if err != nil {
		return "error", 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return "error", 0, err
	}
	answer = strconv.Itoa(resp.StatusCode)
	switch resp.StatusCode {
	case http.StatusOK, http.StatusUnauthorized:
		return answer, 0, nil
	case http.StatusServiceUnavailable:
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || secs < 1 {
			return answer, 0, fmt.Errorf("503 with Retry-After %q: want whole seconds", resp.Header.Get("Retry-After"))
		}
		return answer, time.Duration(secs) * time.Second, nil
	}
	return answer, 0, fmt.Errorf("status %d", resp.StatusCode)
}

type row struct {
	phase, request, answer string
	clients                int
	lat                    []time.Duration
	elapsed                time.Duration
	firstErr               error
}

// rows turns r into table rows, the expected answers first (200 for a GET,
// 401 then 503 for a POST, shown even when none came), then any other.
func (r *result) rows(phase, request string, clients int) []row {
	want := []string{"200"}
	if strings.HasPrefix(request, "POST") {
		want = []string{"401", "503"}
	}
	var others []string
	for a := range r.lat {
		if !slices.Contains(want, a) {
			others = append(others, a)
		}
	}
	slices.Sort(others)
	var rows []row
	for _, a := range append(want, others...) {
		lat := r.lat[a]
		slices.Sort(lat)
		rows = append(rows, row{phase: phase, request: request, answer: a, clients: clients,
			lat: lat, elapsed: r.elapsed, firstErr: r.firstErr[a]})
	}
	return rows
}

// measure runs f and describes the CPU the process pid (none when 0) and
// this one used meanwhile, in cores (CPU seconds per second).
func measure(pid int, f func()) string {
	s0, errS0 := loadkit.CPUTime(pid)
	l0, errL0 := loadkit.CPUTime(os.Getpid())
	t0 := time.Now()
	f()
	wall := time.Since(t0).Seconds()
	s1, errS1 := loadkit.CPUTime(pid)
	l1, errL1 := loadkit.CPUTime(os.Getpid())
	var parts []string
	switch {
	case pid == 0:
	case errors.Join(errS0, errS1) != nil:
		parts = append(parts, "server unknown")
	default:
		parts = append(parts, fmt.Sprintf("server %.2f", (s1-s0).Seconds()/wall))
	}
	if errors.Join(errL0, errL1) == nil {
		parts = append(parts, fmt.Sprintf("load generator %.2f", (l1-l0).Seconds()/wall))
	}
	return strings.Join(parts, ", ")
}

// fetchProfile saves a CPU profile of d (whole seconds, at least 1) from
// the pprof URL u into out.
func fetchProfile(u, out string, d time.Duration) error {
	secs := max(1, int(d/time.Second))
	resp, err := (&http.Client{Timeout: d + 30*time.Second, Transport: &http.Transport{Proxy: nil}}).
		Get(u + "?seconds=" + strconv.Itoa(secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s", resp.Status, b)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func msOrDash(sorted []time.Duration, p float64) string {
	if len(sorted) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(loadkit.Percentile(sorted, p))/float64(time.Millisecond))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "stormload:", err)
	os.Exit(2)
}
