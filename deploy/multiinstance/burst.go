package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// result is what the burst saw.
type result struct {
	mu       sync.Mutex
	requests int
	byOp     map[string]int
	failures []string // every failed request, described
	accepted []string // IDs of the orders answered 201

	duration        time.Duration
	beforeTerm      [2]int // order requests each api instance had logged at SIGTERM
	termAt, exitAt  time.Duration
	afterExit       int // order requests api-2 served after api-1 exited
	total           [2]int
	exitCode        int
	cleanShutdown   bool
	stoppedInTime   bool
	survivorServing bool
}

func (r *result) fail(format string, args ...any) {
	r.mu.Lock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// burst runs clients concurrent clients against the load balancer for
// o.burst: mostly order creations, each with its own Idempotency-Key, and
// some lists and reads. 40% into it, once both api instances have served
// orders, it sends SIGTERM to api1. It returns once the burst is over and
// api1 has exited (or its shutdown deadline has passed).
func burst(ctx context.Context, c *client, a *account, o options, api1, api2 *proc, logf func(string, ...any)) (*result, error) {
	res := &result{byOp: map[string]int{}}
	var ids struct {
		sync.Mutex
		list []string
	}
	ids.list = append(ids.list, a.flowOrders...)
	pick := func(rng *rand.Rand) string {
		ids.Lock()
		defer ids.Unlock()
		return ids.list[rng.IntN(len(ids.list))]
	}

	logf("burst: %d clients for %s; SIGTERM to api-1 at %s", o.clients, o.burst, o.burst*4/10)
	start := time.Now()
	stopAt := start.Add(o.burst)
	var wg sync.WaitGroup
	for w := range o.clients {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					res.fail("client %d panicked: %v", w, p)
				}
			}()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for n := 0; time.Now().Before(stopAt) && ctx.Err() == nil; n++ {
				var (
					op, method, path string
					body             any
					header           map[string]string
					want             int
				)
				switch x := rng.IntN(100); {
				case x < 70:
					op, method, path, want = "create", "POST", "/v1/orders", http.StatusCreated
					body = newOrder(n)
					header = map[string]string{"Idempotency-Key": fmt.Sprintf("burst-%d-%d", w, n)}
				case x < 85:
					op, method, path, want = "list", "GET", "/v1/orders?limit=20", http.StatusOK
				default:
					op, method, path, want = "get", "GET", "/v1/orders/"+pick(rng), http.StatusOK
				}
				r, err := c.do(ctx, method, path, a.token, body, header)
				at := time.Since(start).Seconds()
				res.mu.Lock()
				res.requests++
				res.byOp[op]++
				res.mu.Unlock()
				switch {
				case err != nil && ctx.Err() != nil:
					return
				case err != nil:
					res.fail("%.2fs %s %s: %v (retried: %t)", at, method, path, err, r.retried)
					continue
				case r.status != want || r.retried:
					res.fail("%.2fs %s %s: status %d (retried: %t), want %d: %.200s", at, method, path, r.status, r.retried, want, r.body)
					continue
				}
				if op == "create" {
					var created order
					if err := json.Unmarshal(r.body, &created); err != nil || created.ID == "" {
						res.fail("%.2fs POST /v1/orders: 201 without an id: %.200s", at, r.body)
						continue
					}
					res.mu.Lock()
					res.accepted = append(res.accepted, created.ID)
					res.mu.Unlock()
					ids.Lock()
					ids.list = append(ids.list, created.ID)
					ids.Unlock()
				}
			}
		})
	}

	// The SIGTERM, in the middle of the burst.
	var termErr error
	select {
	case <-time.After(o.burst * 4 / 10):
	case <-ctx.Done():
	}
	if ctx.Err() == nil {
		n1, err1 := api1.orderRequests()
		n2, err2 := api2.orderRequests()
		res.beforeTerm = [2]int{n1, n2}
		termErr = errors.Join(err1, err2)
		res.termAt = time.Since(start)
		api1.signal(syscall.SIGTERM)
		logf("burst: SIGTERM to api-1 (pid %d) after api-1 served %d order requests, api-2 %d", api1.cmd.Process.Pid, n1, n2)
	}
	// Its exit, and what api-2 had served by then.
	deadline := time.After(12 * time.Second) // SHUTDOWN_TIMEOUT (10 s) and a margin
	var atExit int
	select {
	case <-api1.done:
		res.exitAt = time.Since(start)
		atExit, _ = api2.orderRequests()
		res.stoppedInTime = true
		logf("burst: api-1 exited %.2fs after SIGTERM: %v", (res.exitAt - res.termAt).Seconds(), api1.err)
	case <-deadline:
	case <-ctx.Done():
	}
	wg.Wait()
	res.duration = time.Since(start)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("burst: %w", context.Cause(ctx))
	}
	if termErr != nil {
		return nil, fmt.Errorf("reading the access logs: %w", termErr)
	}
	if res.stoppedInTime {
		res.exitCode = api1.exitCode()
		res.cleanShutdown = api1.logged("shut down") && !api1.logged("shutdown incomplete")
	}
	res.total[0], _ = api1.orderRequests()
	res.total[1], _ = api2.orderRequests()
	res.afterExit = res.total[1] - atExit
	res.survivorServing = !api2.exited()
	return res, nil
}

// verify checks the burst's outcome against the database and prints the
// summary; it returns an error naming everything that failed.
func (r *result) verify(a *account, inDB map[string]bool, api1, api2 *proc, logf func(string, ...any), elapsed time.Duration) error {
	var problems []string
	if len(r.failures) > 0 {
		shown := r.failures
		if len(shown) > 20 {
			shown = shown[:20]
		}
		problems = append(problems, fmt.Sprintf("%d of %d requests failed:\n    %s", len(r.failures), r.requests, strings.Join(shown, "\n    ")))
	}
	// Round robin over two healthy instances: about half each. Less than a
	// quarter means one was out of rotation for a while.
	if b := r.beforeTerm; b[0]*4 < b[0]+b[1] || b[1]*4 < b[0]+b[1] {
		problems = append(problems, fmt.Sprintf("before the SIGTERM the load balancer had not shared the orders between the api instances (api-1 %d, api-2 %d order requests)", b[0], b[1]))
	}
	switch {
	case !r.stoppedInTime:
		problems = append(problems, "api-1 did not exit within 12 s of SIGTERM (SHUTDOWN_TIMEOUT is 10 s)")
	case r.exitCode != 0:
		problems = append(problems, fmt.Sprintf("api-1 exited with status %d after SIGTERM, want 0 (%v)", r.exitCode, api1.err))
	case !r.cleanShutdown:
		problems = append(problems, `api-1 did not log "shut down" (or logged "shutdown incomplete")`)
	}
	if !r.survivorServing {
		problems = append(problems, fmt.Sprintf("api-2 exited during the burst: %v", api2.err))
	} else if r.stoppedInTime && r.afterExit == 0 && r.exitAt < r.duration-time.Second {
		problems = append(problems, "api-2 served no order request after api-1 exited")
	}

	want := map[string]bool{}
	for _, id := range append(append([]string(nil), a.flowOrders...), r.accepted...) {
		if want[id] {
			problems = append(problems, fmt.Sprintf("order %s was answered 201 twice", id))
		}
		want[id] = true
	}
	var lost, extra []string
	for id := range want {
		if !inDB[id] {
			lost = append(lost, id)
		}
	}
	for id := range inDB {
		if !want[id] {
			extra = append(extra, id)
		}
	}
	sort.Strings(lost)
	sort.Strings(extra)
	if len(lost) > 0 {
		problems = append(problems, fmt.Sprintf("%d orders answered 201 are not in the database: %v", len(lost), lost))
	}
	if len(extra) > 0 {
		problems = append(problems, fmt.Sprintf("%d orders in the database were never answered 201: %v", len(extra), extra))
	}

	fmt.Printf("multi-instance proof: requests=%d (create %d, list %d, get %d) failures=%d orders_accepted=%d orders_in_db=%d "+
		"api-1=%d (%d before SIGTERM) api-2=%d (%d before SIGTERM, %d after api-1 exited) sigterm_at=%.1fs api-1_exit=%.2fs status=%d burst=%.1fs rps=%.0f total=%.1fs\n",
		r.requests, r.byOp["create"], r.byOp["list"], r.byOp["get"], len(r.failures), len(want), len(inDB),
		r.total[0], r.beforeTerm[0], r.total[1], r.beforeTerm[1], r.afterExit,
		r.termAt.Seconds(), (r.exitAt - r.termAt).Seconds(), r.exitCode, r.duration.Seconds(),
		float64(r.requests)/r.duration.Seconds(), elapsed.Seconds())
	if len(problems) > 0 {
		return errors.New("the proof failed:\n  " + strings.Join(problems, "\n  "))
	}
	logf("passed")
	return nil
}
