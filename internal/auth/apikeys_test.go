package auth_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/authn"
)

// createKey creates an API key with a login's access token and returns the
// answer.
func (b *testBundle) createKey(tb testing.TB, access, name string) map[string]any {
	tb.Helper()
	return b.Want(tb, http.StatusCreated, "POST", "/v1/api-keys", access, map[string]string{"name": name})
}

// lastUsed returns a key's last_used_at.
func (b *testBundle) lastUsed(tb testing.TB, keyID string) sql.NullTime {
	tb.Helper()
	var t sql.NullTime
	if err := b.DB.QueryRow(context.Background(), `SELECT last_used_at FROM api_keys WHERE id = $1`, keyID).Scan(&t); err != nil {
		tb.Fatalf("last_used_at of %s: %v", keyID, err)
	}
	return t
}

// An API key from creation to deletion: its secret is shown once, it
// authenticates, its use is recorded, and once deleted it is refused.
func TestAPIKeyLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const email = "ada@example.com"
	userID := b.addUser(t, email, oldPassword, true)
	access, _ := b.login(t, email, oldPassword)

	created := b.createKey(t, access, "  deploy bot ")
	secret, _ := created["secret"].(string)
	keyID, _ := created["id"].(string)
	prefix, _ := created["prefix"].(string)
	if !strings.HasPrefix(secret, authn.APIKeyPrefix) || len(secret) < len(authn.APIKeyPrefix)+40 {
		t.Fatalf("secret: got %q, want %q and at least 40 more characters", secret, authn.APIKeyPrefix)
	}
	if !strings.HasPrefix(secret, prefix) || len(prefix) <= len(authn.APIKeyPrefix) {
		t.Errorf("prefix: got %q, want a start of the secret longer than %q", prefix, authn.APIKeyPrefix)
	}
	if created["name"] != "deploy bot" {
		t.Errorf("name: got %q, want %q", created["name"], "deploy bot")
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM api_keys WHERE secret_hash = $1 OR prefix = $1`, secret); n != 0 {
		t.Errorf("api_keys rows holding the secret: got %d, want 0", n)
	}

	list := b.Want(t, http.StatusOK, "GET", "/v1/api-keys", access, nil)
	data, _ := list["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("list: got %v, want one key", list)
	}
	item := data[0].(map[string]any)
	if _, ok := item["secret"]; ok {
		t.Errorf("list item: got %v, want no secret", item)
	}
	if item["id"] != keyID || item["prefix"] != prefix || item["last_used_at"] != nil {
		t.Errorf("list item: got %v, want id %s, prefix %s, never used", item, keyID, prefix)
	}

	if lu := b.lastUsed(t, keyID); lu.Valid {
		t.Fatalf("last_used_at before use: got %v, want NULL", lu.Time)
	}
	me := b.Want(t, http.StatusOK, "GET", "/v1/me", secret, nil)
	if me["id"] != userID || me["email"] != email {
		t.Errorf("/v1/me with the key: got %v, want user %s", me, userID)
	}
	first := b.lastUsed(t, keyID)
	if !first.Valid {
		t.Fatal("last_used_at after the first use: got NULL, want a time")
	}
	b.Want(t, http.StatusOK, "GET", "/v1/me", secret, nil)
	if second := b.lastUsed(t, keyID); !second.Valid || !second.Time.Equal(first.Time) {
		t.Errorf("last_used_at after a second use within a minute: got %v, want %v unchanged", second.Time, first.Time)
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM api_keys WHERE user_id = $1 AND last_used_at IS NOT NULL`, userID); n != 1 {
		t.Errorf("used keys: got %d, want 1", n)
	}

	// What a key may not do: mint keys, or act on a login.
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/api-keys", `{"name": "successor"}`},
		{"POST", "/v1/me/password", `{"current_password": "` + oldPassword + `", "new_password": "` + newPassword + `"}`},
		{"POST", "/v1/auth/logout", ""},
	} {
		var body any
		if c.body != "" {
			body = c.body
		}
		if r := b.Call(t, c.method, c.path, secret, body); r.Status != http.StatusForbidden {
			t.Errorf("%s %s with an API key: got %d %v, want 403", c.method, c.path, r.Status, r.Body)
		}
	}
	if n := b.Count(t, `SELECT COUNT(*) FROM api_keys`); n != 1 {
		t.Errorf("api keys after the key tried to mint one: got %d, want 1", n)
	}

	b.Want(t, http.StatusNoContent, "DELETE", "/v1/api-keys/"+keyID, access, nil)
	r := b.Call(t, "GET", "/v1/me", secret, nil)
	if r.Status != http.StatusUnauthorized {
		t.Errorf("/v1/me with the deleted key: got %d, want 401", r.Status)
	}
	if got := r.Header.Get("WWW-Authenticate"); !strings.Contains(got, "invalid_token") {
		t.Errorf("WWW-Authenticate for the deleted key: got %q, want invalid_token", got)
	}
	b.Want(t, http.StatusNotFound, "DELETE", "/v1/api-keys/"+keyID, access, nil)
	if list := b.Want(t, http.StatusOK, "GET", "/v1/api-keys", access, nil); len(list["data"].([]any)) != 0 {
		t.Errorf("list after deletion: got %v, want no keys", list)
	}
}

// Using a key writes last_used_at at most once a minute.
func TestAPIKeyLastUsed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addUser(t, "ada@example.com", oldPassword, true)
	access, _ := b.login(t, "ada@example.com", oldPassword)

	tests := []struct {
		name    string
		ago     time.Duration // since the last use; 0 for never
		written bool
	}{
		{"never used", 0, true},
		{"used a second ago", time.Second, false},
		{"used 30 seconds ago", 30 * time.Second, false},
		{"used 2 minutes ago", 2 * time.Minute, true},
		{"used a day ago", 24 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := b.createKey(t, access, tt.name)
			keyID := k["id"].(string)
			if tt.ago > 0 {
				if _, err := b.DB.Exec(context.Background(), `UPDATE api_keys SET last_used_at = $2 WHERE id = $1`, keyID, time.Now().UTC().Add(-tt.ago)); err != nil {
					t.Fatal(err)
				}
			}
			before := b.lastUsed(t, keyID)
			b.Want(t, http.StatusOK, "GET", "/v1/me", k["secret"].(string), nil)
			after := b.lastUsed(t, keyID)
			written := before.Valid != after.Valid || !before.Time.Equal(after.Time)
			if written != tt.written {
				t.Errorf("last_used_at went from %v to %v: written %v, want %v", before, after, written, tt.written)
			}
			if after.Time.Before(before.Time) {
				t.Errorf("last_used_at went back from %v to %v", before.Time, after.Time)
			}
		})
	}
}

// Keys belong to their user: another user can neither list nor delete them.
func TestAPIKeyOfAnotherUser(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addUser(t, "ada@example.com", oldPassword, true)
	b.addUser(t, "eve@example.com", oldPassword, true)
	ada, _ := b.login(t, "ada@example.com", oldPassword)
	eve, _ := b.login(t, "eve@example.com", oldPassword)

	k := b.createKey(t, ada, "ada's")
	keyID, secret := k["id"].(string), k["secret"].(string)

	tests := []struct {
		name, id string
	}{
		{"another user's key", keyID},
		{"no such key", "key_01ARZ3NDEKTSV4RRFFQ69G5FAV"},
		{"malformed id", "not-a-key-id"},
		{"wrong prefix", "usr" + strings.TrimPrefix(keyID, "key")},
	}
	t.Run("delete", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				r := b.Call(t, "DELETE", "/v1/api-keys/"+url.PathEscape(tt.id), eve, nil)
				if r.Status != http.StatusNotFound {
					t.Errorf("got %d %v, want 404", r.Status, r.Body)
				}
			})
		}
	})
	// The key still works and is still only ada's.
	b.Want(t, http.StatusOK, "GET", "/v1/me", secret, nil)
	if list := b.Want(t, http.StatusOK, "GET", "/v1/api-keys", eve, nil); len(list["data"].([]any)) != 0 {
		t.Errorf("eve's list: got %v, want no keys", list)
	}
}

// 19 keys in pages of 7: 7, 7, 5, each key once, newest first, and
// next_cursor null on the last page.
func TestAPIKeyPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.addUser(t, "ada@example.com", oldPassword, true)
	b.addUser(t, "eve@example.com", oldPassword, true)
	access, _ := b.login(t, "ada@example.com", oldPassword)
	eve, _ := b.login(t, "eve@example.com", oldPassword)

	want := map[string]bool{}
	for i := range 19 {
		want[b.createKey(t, access, fmt.Sprintf("key %d", i))["id"].(string)] = true
	}
	// Neither another user's keys nor deleted ones are listed.
	b.createKey(t, eve, "eve's")
	deleted := b.createKey(t, access, "deleted")["id"].(string)
	b.Want(t, http.StatusNoContent, "DELETE", "/v1/api-keys/"+deleted, access, nil)

	seen := map[string]bool{}
	var sizes []int
	var last string
	cursor := ""
	for page := 1; ; page++ {
		if page > 4 {
			t.Fatalf("still a next page after %d pages", page-1)
		}
		path := "/v1/api-keys?limit=7"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		out := b.Want(t, http.StatusOK, "GET", path, access, nil)
		data, _ := out["data"].([]any)
		sizes = append(sizes, len(data))
		for _, d := range data {
			keyID := d.(map[string]any)["id"].(string)
			if seen[keyID] {
				t.Errorf("page %d: key %s listed again", page, keyID)
			}
			if !want[keyID] {
				t.Errorf("page %d: key %s is not one of the user's live keys", page, keyID)
			}
			if last != "" && keyID >= last {
				t.Errorf("page %d: key %s after %s, want newest (greatest ID) first", page, keyID, last)
			}
			seen[keyID], last = true, keyID
		}
		next, present := out["next_cursor"]
		if !present {
			t.Fatalf("page %d: got %v, want a next_cursor member", page, out)
		}
		if next == nil {
			break
		}
		cursor = next.(string)
	}
	if fmt.Sprint(sizes) != "[7 7 5]" {
		t.Errorf("page sizes: got %v, want [7 7 5]", sizes)
	}
	if len(seen) != len(want) {
		t.Errorf("keys listed: got %d, want %d", len(seen), len(want))
	}

	bad := []struct{ name, query, field string }{
		{"forged cursor", "?cursor=bm90LWEtY3Vyc29y", "cursor"},
		{"limit too large", "?limit=1000", "limit"},
		{"limit zero", "?limit=0", "limit"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantInvalid(t, b.Call(t, "GET", "/v1/api-keys"+tt.query, access, nil), tt.field)
		})
	}
}
