package auth

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/id"
)

// deleteExpired works in batches until nothing expired is left, whatever the
// batch size, and counts what it deleted.
func TestDeleteExpiredBatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                    string
		expiredRefresh, expired int // expired refresh and email tokens
		batch                   int
	}{
		{"nothing to delete", 0, 0, 3},
		{"less than a batch", 2, 1, 3},
		{"exactly a batch", 3, 3, 3},
		{"several batches", 7, 8, 3},
		{"batches of one", 4, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := newTestDB(t)
			now := time.Now().UTC()
			u := User{ID: id.New("usr"), Email: "ada@example.com", Name: "Ada", PasswordHash: "x", CreatedAt: now}
			if err := insertUser(ctx, db, u); err != nil {
				t.Fatal(err)
			}
			for i := range tt.expiredRefresh {
				if err := insertRefreshToken(ctx, db, fmt.Sprint("expired-", i), "ses_1", u.ID, now.Add(-time.Minute), now.Add(-time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			for i := range tt.expired {
				if err := insertEmailToken(ctx, db, fmt.Sprint("expired-", i), purposeReset, u.ID, now.Add(-time.Minute), now.Add(-time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			if err := insertRefreshToken(ctx, db, "live", "ses_1", u.ID, now.Add(time.Hour), now); err != nil {
				t.Fatal(err)
			}
			if err := insertEmailToken(ctx, db, "live", purposeVerify, u.ID, now.Add(time.Hour), now); err != nil {
				t.Fatal(err)
			}

			n, err := deleteExpired(ctx, db, now, tt.batch)
			if err != nil {
				t.Fatalf("deleteExpired: %v", err)
			}
			if want := int64(tt.expiredRefresh + tt.expired); n != want {
				t.Errorf("deleted: got %d, want %d", n, want)
			}
			for _, table := range []string{"refresh_tokens", "email_tokens"} {
				var left []string
				rows, err := db.Query(ctx, `SELECT token_hash FROM `+table)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var h string
					if err := rows.Scan(&h); err != nil {
						t.Fatal(err)
					}
					left = append(left, h)
				}
				if err := rows.Close(); err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(left) != "[live]" {
					t.Errorf("%s left: got %v, want [live]", table, left)
				}
			}
		})
	}
}
