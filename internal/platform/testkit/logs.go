package testkit

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

// Logs collects the JSON log lines a program under test writes, from any
// number of goroutines; pass it where the program takes its stdout.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Lines returns the lines written so far.
func (l *Logs) Lines() []string {
	var lines []string
	for line := range strings.Lines(l.String()) {
		lines = append(lines, strings.TrimSuffix(line, "\n"))
	}
	return lines
}

// Records returns each line decoded as a JSON object, failing t on a line
// that is not one.
func (l *Logs) Records(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range l.Lines() {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// WaitFor returns the first line containing s, waiting up to 30 s for it to
// be written, and fails t if it never is.
func (l *Logs) WaitFor(t testing.TB, s string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, line := range l.Lines() {
			if strings.Contains(line, s) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line containing %s; logs:\n%s", s, l.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
