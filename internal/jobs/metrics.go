package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/rightsize/rightsize/internal/platform/database"
)

// metrics is River worker middleware that times every job run by kind and
// outcome; the histogram's _count doubles as the job counter.
type metrics struct {
	river.MiddlewareDefaults
	duration *prometheus.HistogramVec
	running  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "job_duration_seconds",
			Help:    "Time spent working a job, by kind and outcome (completed, failed, cancelled, snoozed).",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 9), // 5 ms to ~5.5 min
		}, []string{"kind", "outcome"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jobs_running",
			Help: "Jobs being worked in this process now.",
		}),
	}
	if err := errors.Join(reg.Register(m.duration), reg.Register(m.running)); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	m.running.Inc()
	defer m.running.Dec()
	start := time.Now()
	err := doInner(ctx)
	m.duration.WithLabelValues(job.Kind, outcome(err)).Observe(time.Since(start).Seconds())
	return err
}

func outcome(err error) string {
	var cancel *rivertype.JobCancelError
	var snooze *rivertype.JobSnoozeError
	switch {
	case err == nil:
		return "completed"
	case errors.As(err, &cancel):
		return "cancelled"
	case errors.As(err, &snooze):
		return "snoozed"
	default:
		return "failed"
	}
}

// waitingStates are the states of a job that is in the queue and not running.
var waitingStates = []string{"available", "scheduled", "retryable"}

var waitingDesc = prometheus.NewDesc("jobs_waiting",
	"Jobs in the queue, by state: available (due, waiting for a worker), scheduled (due later), retryable (failed, waiting for the next attempt). Counted in the database at each scrape, so every working process reports the same numbers.",
	[]string{"state"}, nil)

// queueCollector counts the waiting jobs at each scrape: the queue depth,
// which no in-process counter can know, since any process may insert jobs
// and any worker take them. River's fetch index (state first) serves the
// count.
type queueCollector struct {
	db     *database.DB
	logger *slog.Logger
}

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- waitingDesc }

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	// A scrape must not hang on a slow database: without an answer the
	// series are missing from this scrape, and the log says why.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts := make(map[string]float64, len(waitingStates))
	rows, err := c.db.Query(ctx, `SELECT state, count(*) FROM river_job WHERE state IN ('available', 'scheduled', 'retryable') GROUP BY state`)
	if err == nil {
		for rows.Next() {
			var state string
			var n int64
			if err = rows.Scan(&state, &n); err != nil {
				break
			}
			counts[state] = float64(n)
		}
		err = errors.Join(err, rows.Err(), rows.Close())
	}
	if err != nil {
		c.logger.Warn("jobs: counting the queue for metrics", slog.Any("err", err))
		return
	}
	for _, state := range waitingStates {
		ch <- prometheus.MustNewConstMetric(waitingDesc, prometheus.GaugeValue, counts[state], state)
	}
}
