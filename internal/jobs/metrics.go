package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
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
