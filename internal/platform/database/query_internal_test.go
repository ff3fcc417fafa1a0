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

func TestStatementName(t *testing.T) {
	t.Parallel()
	tests := []struct{ query, want string }{
		{"SELECT id FROM users WHERE email = $1", "SELECT id FROM users WHERE email = $1"},
		{"\n\t-- why\n\tSELECT id, email\n\tFROM users", "SELECT id, email"},
		{"UPDATE t SET a = 'x', b = 42 WHERE c = $3", "UPDATE t SET a = ?, b = ? WHERE c = $3"},
		{"INSERT INTO t (a) VALUES ('line one\nline two')", "INSERT INTO t (a) VALUES (?)"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := statementName(tt.query); got != tt.want {
			t.Errorf("statementName(%q) = %q, want %q", tt.query, got, tt.want)
		}
	}
}
