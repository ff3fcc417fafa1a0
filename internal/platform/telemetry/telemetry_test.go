package telemetry_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/rightsize/rightsize/internal/platform/telemetry"
)

type idKey struct{}

// A request ID found in the context is added to lines logged with it, once,
// however the line already names one.
func TestLoggerAddsContextAttrsOnce(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := telemetry.NewLogger(&buf, slog.LevelInfo, false, func(ctx context.Context) []slog.Attr {
		if id, ok := ctx.Value(idKey{}).(string); ok {
			return []slog.Attr{slog.String("request_id", id)}
		}
		return nil
	})
	ctx := context.WithValue(context.Background(), idKey{}, "R1")

	logger.InfoContext(ctx, "from context")
	logger.InfoContext(ctx, "own value", "request_id", "R1")
	logger.With("request_id", "R1").InfoContext(ctx, "preset")
	logger.Info("no context")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []int{1, 1, 1, 0}
	for i, line := range lines {
		if got := strings.Count(line, `"request_id"`); got != want[i] {
			t.Errorf("line %q: got request_id %d times, want %d", line, got, want[i])
		}
	}
}
