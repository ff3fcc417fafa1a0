package app

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rightsize/rightsize/internal/platform/resilience"
	"github.com/rightsize/rightsize/internal/platform/telemetry"
	"github.com/rightsize/rightsize/internal/platform/testkit"
	"github.com/rightsize/rightsize/internal/service"
)

type breakerService struct {
	service.Defaults
	breaker *resilience.Breaker
}

// A service adds a circuit breaker of its own beside the platform's SMTP
// breaker, on the one set of breaker metrics app builds: both are scraped,
// and nothing panics over a second registration.
func TestSecondBreakerRegisters(t *testing.T) {
	t.Parallel()
	catalog := []service.Def{service.Define("payments", nil, func(_ *struct{}, d service.Deps) (*breakerService, error) {
		return &breakerService{breaker: resilience.NewBreaker("stripe", resilience.Settings{}, d.Breakers)}, nil
	})}
	cfg := loadConfig(t, catalog, map[string]string{
		"DATABASE_URL": testkit.EmptyDatabaseURL(t),
		"DATA_DIR":     t.TempDir(),
		"SMTP_URL":     "smtp://127.0.0.1:1",
		"WORKER":       "false",
	})
	a, err := build(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rec := httptest.NewRecorder()
	telemetry.MetricsHandler(a.registry).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{`circuit_breaker_state{name="smtp"} 0`, `circuit_breaker_state{name="stripe"} 0`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
