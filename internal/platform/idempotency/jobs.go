package idempotency

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// CleanupArgs is the job that deletes expired keys; [Store.Periodic] enqueues
// it hourly.
type CleanupArgs struct{}

// Kind identifies the job; it is stored with every queued job, so it must
// never change.
func (CleanupArgs) Kind() string { return "idempotency.cleanup" }

// CleanupWorker works [CleanupArgs] jobs by calling [Store.DeleteExpired].
// [Store.Workers] registers one; its zero value is not usable.
type CleanupWorker struct {
	river.WorkerDefaults[CleanupArgs]
	store *Store
}

// Work deletes the expired keys.
func (w *CleanupWorker) Work(ctx context.Context, job *river.Job[CleanupArgs]) error {
	n, err := w.store.DeleteExpired(ctx)
	if err != nil {
		return fmt.Errorf("idempotency cleanup after %d rows: %w", n, err)
	}
	return nil
}

// Workers registers the cleanup job's worker with w.
func (s *Store) Workers(w *river.Workers) {
	river.AddWorker(w, &CleanupWorker{store: s})
}

// Periodic returns the cleanup job, enqueued hourly and once when the
// worker starts.
func (s *Store) Periodic() []*river.PeriodicJob {
	// internal/jobs has jobs.Every, but a platform package may not import it.
	return []*river.PeriodicJob{river.NewPeriodicJob(
		river.PeriodicInterval(time.Hour),
		func() (river.JobArgs, *river.InsertOpts) { return CleanupArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true},
	)}
}
