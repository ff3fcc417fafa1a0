package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riverqueue/river"

	"github.com/rightsize/rightsize/internal/jobs"
	"github.com/rightsize/rightsize/internal/platform/database"
	"github.com/rightsize/rightsize/internal/platform/mail"
	"github.com/rightsize/rightsize/internal/platform/resilience"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

type noteArgs struct {
	Note string `json:"note"`
}

func (noteArgs) Kind() string { return "test.note" }

// noteWorker records each job it works on a channel.
type noteWorker struct {
	river.WorkerDefaults[noteArgs]
	worked chan string
	runs   atomic.Int64
}

func (w *noteWorker) Work(ctx context.Context, job *river.Job[noteArgs]) error {
	w.runs.Add(1)
	w.worked <- job.Args.Note
	return nil
}

// riverSchema is River's own tables and nothing else: all these tests need.
var riverSchema = testkit.Schema{
	Key: "river-" + testkit.ModuleVersion("github.com/riverqueue/river"),
	Apply: func(ctx context.Context, db *database.DB) error {
		_, err := jobs.Migrate(ctx, db)
		return err
	},
}

type testBundle struct {
	db     *database.DB
	client *jobs.Client
	worker *noteWorker
	reg    *prometheus.Registry
}

// setup starts a working client, over a fresh database, with noteWorker
// registered on its bundle and periodic added, as the app wires them: after
// New, before Start.
func setup(t *testing.T, periodic ...*river.PeriodicJob) *testBundle {
	t.Helper()
	db := testkit.NewDB(t, riverSchema)
	reg := prometheus.NewRegistry()
	client, err := jobs.New(context.Background(), db, jobs.Options{Work: true, Concurrency: 4, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	w := &noteWorker{worked: make(chan string, 100)}
	river.AddWorker(client.Workers(), w)
	if err := client.AddPeriodic(periodic...); err != nil {
		t.Fatal(err)
	}
	start(t, client)
	return &testBundle{db: db, client: client, worker: w, reg: reg}
}

// start starts client and stops and closes it when t ends.
func start(t *testing.T, client *jobs.Client) {
	t.Helper()
	if err := client.Start(context.Background()); err != nil {
		client.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		client.Close()
	})
}

func waitFor[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for a job to run")
		panic("unreachable")
	}
}

func TestInsertTxRunsOnlyCommittedJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	rollback := errors.New("roll back")
	err := b.db.Transact(ctx, func(tx *database.Tx) error {
		if err := b.client.InsertTx(ctx, tx, noteArgs{Note: "rolled back"}, nil); err != nil {
			t.Fatal(err)
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("got %v, want the rollback error", err)
	}
	err = b.db.Transact(ctx, func(tx *database.Tx) error {
		return b.client.InsertTx(ctx, tx, noteArgs{Note: "committed"}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}

	if got := waitFor(t, b.worker.worked); got != "committed" {
		t.Fatalf("got job %q worked, want %q", got, "committed")
	}
	// The rolled-back job left no row for any worker to find, and the
	// committed one is completed, not queued again.
	var rows int
	var state string
	if err := b.db.QueryRow(ctx, `SELECT count(*), max(state) FROM river_job`).Scan(&rows, &state); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for state != "completed" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		if err := b.db.QueryRow(ctx, `SELECT count(*), max(state) FROM river_job`).Scan(&rows, &state); err != nil {
			t.Fatal(err)
		}
	}
	if rows != 1 || state != "completed" {
		t.Errorf("got %d job rows, state %q; want 1 completed", rows, state)
	}
	if got := b.worker.runs.Load(); got != 1 {
		t.Errorf("got %d runs, want exactly 1", got)
	}
	if got := testutil.CollectAndCount(b.reg, "job_duration_seconds"); got != 1 {
		t.Errorf("got %d job_duration_seconds series, want 1 (test.note, completed)", got)
	}
}

// Periodic jobs added after New, before Start, are enqueued by a working
// client: on start (RunOnStart) and then every interval.
func TestPeriodicJob(t *testing.T) {
	t.Parallel()
	b := setup(t, jobs.Every(200*time.Millisecond, noteArgs{Note: "tick"}))
	for range 2 {
		if got := waitFor(t, b.worker.worked); got != "tick" {
			t.Fatalf("got %q, want tick", got)
		}
	}
}

// A worker registered on Workers after New is the one the client consults:
// before it is registered River refuses to insert its kind, after it the
// job is inserted and, once the client starts, worked.
func TestWorkerRegisteredAfterNew(t *testing.T) {
	t.Parallel()
	db := testkit.NewDB(t, riverSchema)
	client, err := jobs.New(context.Background(), db, jobs.Options{Work: true, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	insert := func(note string) error {
		return db.Transact(ctx, func(tx *database.Tx) error {
			return client.InsertTx(ctx, tx, noteArgs{Note: note}, nil)
		})
	}
	if err := insert("too early"); err == nil {
		t.Fatal("InsertTx of a kind with no worker registered: got nil, want River's unknown-kind error")
	}

	w := &noteWorker{worked: make(chan string, 10)}
	river.AddWorker(client.Workers(), w)
	if err := insert("registered"); err != nil {
		t.Fatalf("InsertTx after registering the worker: %v", err)
	}
	start(t, client)
	if got := waitFor(t, w.worked); got != "registered" {
		t.Errorf("got job %q worked, want %q", got, "registered")
	}
}

func TestInsertOnlyClientDoesNotWork(t *testing.T) {
	t.Parallel()
	db := testkit.NewDB(t, riverSchema)
	client, err := jobs.New(context.Background(), db, jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &noteWorker{worked: make(chan string, 1)}
	river.AddWorker(client.Workers(), w)
	start(t, client)
	ctx := context.Background()
	err = db.Transact(ctx, func(tx *database.Tx) error {
		return client.InsertTx(ctx, tx, noteArgs{Note: "queued"}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Several poll intervals: a client that worked jobs would have run it.
	select {
	case note := <-w.worked:
		t.Fatalf("an insert-only client worked job %q", note)
	case <-time.After(time.Second):
	}
	var state string
	if err := db.QueryRow(ctx, `SELECT state FROM river_job`).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != "available" {
		t.Errorf("got state %q, want available: an insert-only client queues jobs for a worker elsewhere", state)
	}
}

// An insert-only client ignores periodic jobs (River panics if a client
// without queues is given any): the worker processes enqueue them.
func TestInsertOnlyClientIgnoresPeriodicJobs(t *testing.T) {
	t.Parallel()
	db := testkit.NewDB(t, riverSchema)
	client, err := jobs.New(context.Background(), db, jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	river.AddWorker(client.Workers(), &noteWorker{worked: make(chan string, 10)})
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("AddPeriodic on an insert-only client panicked: %v", p)
			}
		}()
		if err := client.AddPeriodic(jobs.Every(50*time.Millisecond, noteArgs{Note: "tick"})); err != nil {
			t.Errorf("AddPeriodic on an insert-only client: %v", err)
		}
	}()
	start(t, client)
	// RunOnStart and many intervals: a client that ran periodic jobs would
	// have enqueued one by now.
	time.Sleep(time.Second)
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM river_job`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("got %d jobs enqueued by an insert-only client's periodic jobs, want 0", n)
	}
}

// Mail leaves the process only from a job: the message is queued with the
// change that caused it and delivered by the worker.
func TestMailSentFromJob(t *testing.T) {
	t.Parallel()
	smtpServer := testkit.SMTPServer(t)
	mailer, err := mail.New(smtpServer.URL(), "rightsize <noreply@example.com>", resilience.Settings{}, nil, resilience.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	db := testkit.NewDB(t, riverSchema)
	client, err := jobs.New(context.Background(), db, jobs.Options{Work: true, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	river.AddWorker(client.Workers(), &mail.SendWorker{Mailer: mailer})
	start(t, client)
	ctx := context.Background()

	msg := mail.Message{To: "ada@example.com", Subject: "Welcome", Text: "Hello, Ada."}
	err = db.Transact(ctx, func(tx *database.Tx) error {
		return client.InsertTx(ctx, tx, mail.SendArgs{Message: msg}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	got := smtpServer.Wait(t, 30*time.Second)
	if len(got.To) != 1 || got.To[0] != "ada@example.com" || !strings.Contains(string(got.Body), "Hello, Ada.") {
		t.Errorf("got message to %v with body %q, want Ada's welcome", got.To, got.Body)
	}
}

type blockArgs struct{}

func (blockArgs) Kind() string { return "test.block" }

// blockWorker runs until its context is cancelled.
type blockWorker struct {
	river.WorkerDefaults[blockArgs]
	started, cancelled chan struct{}
}

func (w *blockWorker) Work(ctx context.Context, job *river.Job[blockArgs]) error {
	close(w.started)
	<-ctx.Done()
	close(w.cancelled)
	return ctx.Err()
}

// Stop with a deadline cancels a job that will not finish, so that shutdown
// ends by the deadline; the job stays in the queue for a later retry.
func TestStopCancelsJobsAtDeadline(t *testing.T) {
	t.Parallel()
	db := testkit.NewDB(t, riverSchema)
	client, err := jobs.New(context.Background(), db, jobs.Options{Work: true, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	w := &blockWorker{started: make(chan struct{}), cancelled: make(chan struct{})}
	river.AddWorker(client.Workers(), w)
	ctx := context.Background()
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Transact(ctx, func(tx *database.Tx) error { return client.InsertTx(ctx, tx, blockArgs{}, nil) }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, w.started)

	stopCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err = client.Stop(stopCtx)
	if err == nil {
		t.Error("Stop returned nil with a job still running, want an error saying it was cut short")
	}
	select {
	case <-w.cancelled:
	default:
		t.Error("the running job's context was not cancelled")
	}
	var state string
	if err := db.QueryRow(ctx, `SELECT state FROM river_job`).Scan(&state); err != nil {
		t.Fatal(err)
	}
	if state != "retryable" && state != "available" {
		t.Errorf("got job state %q, want it kept for a retry", state)
	}
}

// jobs_waiting is the queue's depth by state, read from the database at each
// scrape, so it counts jobs any process inserted.
func TestQueueDepthMetric(t *testing.T) {
	t.Parallel()
	db := testkit.NewDB(t, riverSchema)
	reg := prometheus.NewRegistry()
	// Not started: nothing takes the jobs, so they stay in the queue.
	client, err := jobs.New(context.Background(), db, jobs.Options{Work: true, Concurrency: 1, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	river.AddWorker(client.Workers(), &noteWorker{worked: make(chan string, 10)})
	ctx := context.Background()
	err = db.Transact(ctx, func(tx *database.Tx) error {
		return errors.Join(
			client.InsertTx(ctx, tx, noteArgs{Note: "a"}, nil),
			client.InsertTx(ctx, tx, noteArgs{Note: "b"}, nil),
			client.InsertTx(ctx, tx, noteArgs{Note: "later"}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)}),
		)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := func(available, scheduled, retryable int) {
		t.Helper()
		expected := fmt.Sprintf(`
# HELP jobs_waiting %s
# TYPE jobs_waiting gauge
jobs_waiting{state="available"} %d
jobs_waiting{state="retryable"} %d
jobs_waiting{state="scheduled"} %d
`, "Jobs in the queue, by state: available (due, waiting for a worker), scheduled (due later), retryable (failed, waiting for the next attempt). Counted in the database at each scrape, so every working process reports the same numbers.", available, retryable, scheduled)
		if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "jobs_waiting"); err != nil {
			t.Error(err)
		}
	}
	want(2, 1, 0)
	if _, err := db.Exec(ctx, `UPDATE river_job SET state = 'retryable' WHERE id = (SELECT min(id) FROM river_job)`); err != nil {
		t.Fatal(err)
	}
	want(1, 1, 1)
}
