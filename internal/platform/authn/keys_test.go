package authn_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rightsize/rightsize/internal/platform/authn"
)

func TestParseKeysAccepts(t *testing.T) {
	t.Parallel()
	// 0xff bytes make the standard and URL alphabets differ ("/" vs "_").
	ff := []byte(strings.Repeat("\xff", 32))
	tests := []struct {
		name     string
		spec     string
		wantKIDs []string
	}{
		{"std padded", seed(1), []string{kidOf(1)}},
		{"std unpadded", strings.TrimRight(seed(1), "="), []string{kidOf(1)}},
		{"std alphabet", base64.StdEncoding.EncodeToString(ff), nil},
		{"url alphabet padded", base64.URLEncoding.EncodeToString(ff), nil},
		{"url alphabet unpadded", base64.RawURLEncoding.EncodeToString(ff), nil},
		{"surrounding spaces", "  " + seed(1) + " ,\t" + seed(2) + "\n", []string{kidOf(1), kidOf(2)}},
		{"signer first", seed(3) + "," + seed(1) + "," + seed(2), []string{kidOf(3), kidOf(1), kidOf(2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := authn.ParseKeys(tt.spec)
			if err != nil {
				t.Fatalf("ParseKeys: got error %v, want success", err)
			}
			if tt.wantKIDs != nil && !slices.Equal(k.KeyIDs(), tt.wantKIDs) {
				t.Errorf("KeyIDs: got %v, want %v", k.KeyIDs(), tt.wantKIDs)
			}
		})
	}
}

func TestParseKeysSameKeyIDAcrossEncodings(t *testing.T) {
	t.Parallel()
	ff := []byte(strings.Repeat("\xff", 32))
	a := mustKeys(t, base64.StdEncoding.EncodeToString(ff)).KeyIDs()
	b := mustKeys(t, base64.RawURLEncoding.EncodeToString(ff)).KeyIDs()
	if !slices.Equal(a, b) {
		t.Errorf("kids of one seed in two encodings: got %v and %v, want equal", a, b)
	}
}

func TestParseKeysRejects(t *testing.T) {
	t.Parallel()
	secret := seed(7) // must never appear in an error
	tests := []struct {
		name    string
		spec    string
		wantErr string
	}{
		{"empty", "", "no signing key"},
		{"blank", "  \t", "no signing key"},
		{"not base64", "this is not base64!", "key 1: not valid base64"},
		{"mixed alphabets", "+_" + strings.Repeat("A", 41), "key 1: not valid base64"},
		{"too short", base64.StdEncoding.EncodeToString(make([]byte, 16)), "key 1: decodes to 16 bytes, want a 32-byte Ed25519 seed"},
		{"a private key, not a seed", base64.StdEncoding.EncodeToString(make([]byte, 64)), "key 1: decodes to 64 bytes"},
		{"bad second key", secret + "," + secret[:20], "key 2: "},
		{"empty entry", secret + ",," + seed(2), "key 2: empty"},
		{"trailing comma", secret + ",", "key 2: empty"},
		{"duplicate", seed(2) + "," + secret + "," + secret, "key 3: duplicates an earlier key"},
		{"duplicate in another encoding", secret + "," + strings.TrimRight(secret, "="), "key 2: duplicates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := authn.ParseKeys(tt.spec)
			if err == nil {
				t.Fatalf("ParseKeys: got %v, want an error containing %q", k.KeyIDs(), tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error: got %q, want it to contain %q", err, tt.wantErr)
			}
			for _, entry := range strings.Split(tt.spec, ",") {
				if e := strings.TrimSpace(entry); len(e) >= 8 && strings.Contains(err.Error(), e) {
					t.Errorf("error %q: echoes the key text %q", err, e)
				}
			}
		})
	}
}

func TestGenerateSeed(t *testing.T) {
	t.Parallel()
	a, err := authn.GenerateSeed()
	if err != nil {
		t.Fatalf("GenerateSeed: %v", err)
	}
	b, err := authn.GenerateSeed()
	if err != nil {
		t.Fatalf("GenerateSeed: %v", err)
	}
	if a == b {
		t.Errorf("two seeds: got %q twice, want different", a)
	}
	if _, err := authn.ParseKeys(a); err != nil {
		t.Errorf("ParseKeys(GenerateSeed()): got error %v, want success", err)
	}
}

func TestLoadOrCreateDevKey(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data") // not there yet: it is created
	spec, created, err := authn.LoadOrCreateDevKey(dir)
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	if !created {
		t.Errorf("first call: got created=false, want true")
	}
	if _, err := authn.ParseKeys(spec); err != nil {
		t.Errorf("ParseKeys(created spec): %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, authn.DevKeyFile))
	if err != nil {
		t.Fatalf("stat key file: %v", err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode: got %v, want -rw-------", got)
	}

	again, created, err := authn.LoadOrCreateDevKey(dir)
	if err != nil {
		t.Fatalf("second call: %v", err)
	}
	if created {
		t.Errorf("second call: got created=true, want false")
	}
	if again != spec {
		t.Errorf("second call: got a different key, want the one created first")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files in data dir: got %d, want 1 (no temporary files left)", len(entries))
	}
}

func TestLoadOrCreateDevKeyConcurrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 8
	specs := make([]string, n)
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { specs[i], created[i], errs[i] = authn.LoadOrCreateDevKey(dir) })
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if specs[i] != specs[0] {
			t.Errorf("call %d: got a different key from call 0, want all equal", i)
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Errorf("calls that created the key: got %d, want 1", creators)
	}
}

func TestLoadOrCreateDevKeyReadsExisting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		wantErr bool
	}{
		{"rotated by hand", seed(1) + "," + seed(2) + "\n", false},
		{"corrupt", "not a key\n", true},
		{"empty", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, authn.DevKeyFile), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			spec, created, err := authn.LoadOrCreateDevKey(dir)
			if tt.wantErr {
				if err == nil {
					t.Errorf("got spec %q, want an error", spec)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want success", err)
			}
			if created || spec != strings.TrimSpace(tt.content) {
				t.Errorf("got (%q, created=%v), want (%q, false)", spec, created, strings.TrimSpace(tt.content))
			}
		})
	}
}
