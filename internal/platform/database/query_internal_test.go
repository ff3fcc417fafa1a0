package database

import "testing"

func TestOperation(t *testing.T) {
	t.Parallel()
	tests := []struct{ query, want string }{
		{"SELECT 1", "select"},
		{"select\n\tid FROM t", "select"},
		{"  INSERT\tINTO t VALUES ($1)", "insert"},
		{"-- why this query\nUPDATE t SET a = 1", "update"},
		{"\n\nDELETE FROM t", "delete"},
		{"WITH x AS (SELECT 1) SELECT * FROM x", "select"},
		{"CREATE TABLE t (id INTEGER)", "other"},
		{"", "other"},
	}
	for _, tt := range tests {
		if got := operation(tt.query); got != tt.want {
			t.Errorf("operation(%q) = %q, want %q", tt.query, got, tt.want)
		}
	}
}
