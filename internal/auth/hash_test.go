package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rightsize/rightsize/internal/platform/apperr"
)

// cheapParams keep tests that do not measure cost fast.
var cheapParams = PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func mustHash(tb testing.TB, pw string, p PasswordParams) string {
	tb.Helper()
	h, err := HashPassword(context.Background(), pw, p)
	if err != nil {
		tb.Fatalf("HashPassword(%q, %+v): %v", pw, p, err)
	}
	return h
}

func TestHashPasswordRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		params      PasswordParams
		needsRehash bool
	}{
		{"default", DefaultPasswordParams, false},
		{"lower memory", PasswordParams{Memory: 8 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"lower time", PasswordParams{Memory: 19 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"two lanes", PasswordParams{Memory: 64, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}, true},
		{"short salt long key", PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 64}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const pw = "correct horse battery staple"
			h := mustHash(t, pw, tt.params)

			ok, rehash, err := verifyPassword(context.Background(), pw, h, DefaultPasswordParams)
			if err != nil || !ok || rehash != tt.needsRehash {
				t.Errorf("verifyPassword(context.Background(), right) = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.needsRehash)
			}
			ok, rehash, err = verifyPassword(context.Background(), pw+"!", h, DefaultPasswordParams)
			if err != nil || ok || rehash {
				t.Errorf("verifyPassword(context.Background(), wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

func TestHashPasswordFormat(t *testing.T) {
	t.Parallel()
	h := mustHash(t, "correct horse battery staple", DefaultPasswordParams)

	const prefix = "$argon2id$v=19$m=19456,t=2,p=1$"
	rest, ok := strings.CutPrefix(h, prefix)
	if !ok {
		t.Fatalf("got %q, want prefix %q", h, prefix)
	}
	salt64, key64, ok := strings.Cut(rest, "$")
	if !ok {
		t.Fatalf("got %q, want salt$hash after the parameters", h)
	}
	salt, err := base64.RawStdEncoding.DecodeString(salt64)
	if err != nil || len(salt) != 16 {
		t.Errorf("salt %q: %d bytes, %v; want 16 bytes of unpadded base64", salt64, len(salt), err)
	}
	key, err := base64.RawStdEncoding.DecodeString(key64)
	if err != nil || len(key) != 32 {
		t.Errorf("hash %q: %d bytes, %v; want 32 bytes of unpadded base64", key64, len(key), err)
	}

	p, _, _, err := decodeHash(h)
	if err != nil || p != DefaultPasswordParams {
		t.Errorf("decodeHash = %+v, %v; want %+v, nil", p, err, DefaultPasswordParams)
	}
}

func TestHashPasswordSalted(t *testing.T) {
	t.Parallel()
	a := mustHash(t, "correct horse battery staple", cheapParams)
	b := mustHash(t, "correct horse battery staple", cheapParams)
	if a == b {
		t.Errorf("two hashes of one password are both %q; want different salts", a)
	}
}

func TestHashPasswordNormalizes(t *testing.T) {
	t.Parallel()
	composed := "caf\u00e9 au lait"    // é as one code point
	decomposed := "cafe\u0301 au lait" // e + combining acute accent
	h := mustHash(t, composed, cheapParams)
	if ok, _, err := verifyPassword(context.Background(), decomposed, h, DefaultPasswordParams); err != nil || !ok {
		t.Errorf("verifyPassword(context.Background(), decomposed, hash of composed) = %v, %v; want true, nil", ok, err)
	}
}

func TestHashPasswordRejectsBadParams(t *testing.T) {
	t.Parallel()
	with := func(f func(*PasswordParams)) PasswordParams {
		p := cheapParams
		f(&p)
		return p
	}
	tests := []struct {
		name   string
		params PasswordParams
	}{
		{"zero", PasswordParams{}},
		{"no time", with(func(p *PasswordParams) { p.Time = 0 })},
		{"too much time", with(func(p *PasswordParams) { p.Time = maxPasswordTime + 1 })},
		{"no threads", with(func(p *PasswordParams) { p.Threads = 0 })},
		{"too many threads", with(func(p *PasswordParams) { p.Threads = 255 })},
		{"memory below 8 KiB per lane", with(func(p *PasswordParams) { p.Memory, p.Threads = 15, 2 })},
		{"too much memory", with(func(p *PasswordParams) { p.Memory = maxPasswordMemory + 1 })},
		{"short salt", with(func(p *PasswordParams) { p.SaltLen = 4 })},
		{"long salt", with(func(p *PasswordParams) { p.SaltLen = 65 })},
		{"short key", with(func(p *PasswordParams) { p.KeyLen = 8 })},
		{"long key", with(func(p *PasswordParams) { p.KeyLen = 65 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if h, err := HashPassword(context.Background(), "correct horse battery staple", tt.params); err == nil {
				t.Errorf("HashPassword(%+v) = %q, nil; want an error", tt.params, h)
			}
		})
	}
}

// malformedHashes are stored hashes verifyPassword must refuse: wrong
// algorithm or version, unparseable or out-of-bounds costs, bad base64.
func malformedHashes(tb testing.TB) map[string]string {
	tb.Helper()
	good := mustHash(tb, "correct horse battery staple", cheapParams)
	parts := strings.Split(good, "$") // "", alg, v, costs, salt, hash
	salt, key := parts[4], parts[5]
	with := func(alg, v, costs, salt, key string) string {
		return strings.Join([]string{"", alg, v, costs, salt, key}, "$")
	}
	return map[string]string{
		"empty":               "",
		"plain text":          "correct horse battery staple",
		"bcrypt":              "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":             with("argon2i", "v=19", "m=64,t=1,p=1", salt, key),
		"argon2d":             with("argon2d", "v=19", "m=64,t=1,p=1", salt, key),
		"upper-case alg":      with("ARGON2ID", "v=19", "m=64,t=1,p=1", salt, key),
		"version 16":          with("argon2id", "v=16", "m=64,t=1,p=1", salt, key),
		"no version":          "$argon2id$m=64,t=1,p=1$" + salt + "$" + key,
		"trailing field":      good + "$",
		"no leading dollar":   strings.TrimPrefix(good, "$"),
		"absurd memory":       with("argon2id", "v=19", "m=4294967295,t=1,p=1", salt, key),
		"memory overflows":    with("argon2id", "v=19", "m=4294967296,t=1,p=1", salt, key),
		"memory over cap":     with("argon2id", "v=19", "m=131073,t=1,p=1", salt, key),
		"memory under lanes":  with("argon2id", "v=19", "m=8,t=1,p=2", salt, key),
		"negative memory":     with("argon2id", "v=19", "m=-64,t=1,p=1", salt, key),
		"plus sign":           with("argon2id", "v=19", "m=+64,t=1,p=1", salt, key),
		"leading zero":        with("argon2id", "v=19", "m=064,t=1,p=1", salt, key),
		"empty memory":        with("argon2id", "v=19", "m=,t=1,p=1", salt, key),
		"absurd time":         with("argon2id", "v=19", "m=64,t=4294967295,p=1", salt, key),
		"zero time":           with("argon2id", "v=19", "m=64,t=0,p=1", salt, key),
		"zero threads":        with("argon2id", "v=19", "m=64,t=1,p=0", salt, key),
		"255 threads":         with("argon2id", "v=19", "m=4096,t=1,p=255", salt, key),
		"256 threads":         with("argon2id", "v=19", "m=4096,t=1,p=256", salt, key),
		"costs out of order":  with("argon2id", "v=19", "t=1,m=64,p=1", salt, key),
		"extra cost":          with("argon2id", "v=19", "m=64,t=1,p=1,keyid=abc", salt, key),
		"missing cost":        with("argon2id", "v=19", "m=64,t=1", salt, key),
		"salt not base64":     with("argon2id", "v=19", "m=64,t=1,p=1", "!!!!!!!!!!!!!!!!!!!!!!", key),
		"hash not base64":     with("argon2id", "v=19", "m=64,t=1,p=1", salt, "~~~~"),
		"padded salt":         with("argon2id", "v=19", "m=64,t=1,p=1", salt+"==", key),
		"url-safe alphabet":   with("argon2id", "v=19", "m=64,t=1,p=1", "-_-_-_-_-_-_-_-_-_-_-w", key),
		"short salt":          with("argon2id", "v=19", "m=64,t=1,p=1", "AAAAAA", key),
		"empty hash":          with("argon2id", "v=19", "m=64,t=1,p=1", salt, ""),
		"short hash":          with("argon2id", "v=19", "m=64,t=1,p=1", salt, "AAAAAAAAAAA"),
		"huge":                good + strings.Repeat("A", 1<<20),
		"non-canonical final": with("argon2id", "v=19", "m=64,t=1,p=1", salt[:len(salt)-1]+"B", key),
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	t.Parallel()
	for name, encoded := range malformedHashes(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ok, rehash, err := verifyPassword(context.Background(), "correct horse battery staple", encoded, DefaultPasswordParams)
			if !errors.Is(err, errMalformedHash) || ok || rehash {
				t.Errorf("verifyPassword(%.80q) = %v, %v, %v; want false, false, %v", encoded, ok, rehash, err, errMalformedHash)
			}
		})
	}
}

// Not parallel, so that no other test allocates while this one measures.
func TestVerifyPasswordHostileCostsAllocateLittle(t *testing.T) {
	hostile := malformedHashes(t)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 10 {
		for _, encoded := range hostile {
			_, _, _ = verifyPassword(context.Background(), "correct horse battery staple", encoded, DefaultPasswordParams)
		}
	}
	runtime.ReadMemStats(&after)
	// A single honoured m=4294967295 would be 4 TiB; the 1 MiB "huge" input
	// is refused by length before it is split.
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("verifying %d malformed hashes 10 times allocated %d bytes; want under 1 MiB", len(hostile), got)
	}
}

func TestPasswordDummyVerify(t *testing.T) {
	t.Parallel()
	// dummyVerify hides whether an account exists only if it does the same
	// work as a real login, that is, a hash with the configured costs.
	cheap := DefaultPasswordParams
	cheap.Memory, cheap.Time = 64, 1
	for _, want := range []PasswordParams{DefaultPasswordParams, cheap} {
		h, err := dummyHash(want)
		if err != nil {
			t.Fatal(err)
		}
		p, _, _, err := decodeHash(h)
		if err != nil || p != want {
			t.Fatalf("dummy hash has %+v, %v; want %+v", p, err, want)
		}
		dummyVerify(context.Background(), "correct horse battery staple", want)
		dummyVerify(context.Background(), "", want)
	}
}

func TestParsePasswordParams(t *testing.T) {
	t.Parallel()
	var c Config
	var def string
	for _, v := range c.Vars() {
		if v.Name == "PASSWORD_HASH" {
			def = v.Default
		}
	}
	if p, err := ParsePasswordParams(def); err != nil || p != DefaultPasswordParams {
		t.Errorf("PASSWORD_HASH's default %q = %+v, %v; want DefaultPasswordParams %+v", def, p, err, DefaultPasswordParams)
	}
	if p, err := ParsePasswordParams("m=47104,t=1,p=1"); err != nil || p.Memory != 47104 || p.Time != 1 || p.Threads != 1 || p.SaltLen != 16 || p.KeyLen != 32 {
		t.Errorf("m=47104,t=1,p=1 = %+v, %v", p, err)
	}
	for _, bad := range []string{
		"", "m=19456", "m=19456,t=2", "t=2,m=19456,p=1", "m=19456,t=2,p=1,", "m=19456,t=2,p=1,k=1",
		"m=19456,t=0,p=1", "m=19456,t=17,p=1", "m=19456,t=2,p=0", "m=8,t=1,p=2", "m=19456,t=2,p=2", "m=19456,t=2,p=8", "m=131073,t=1,p=1",
		"m=4294967296,t=1,p=1", "m=-1,t=1,p=1", "m=+64,t=1,p=1", "m=064,t=1,p=1", "M=64,t=1,p=1", "m=64, t=1,p=1",
		"m=١٩٤٥٦,t=2,p=1", // Arabic-Indic digits
	} {
		if p, err := ParsePasswordParams(bad); err == nil {
			t.Errorf("ParsePasswordParams(%q) = %+v, nil; want an error", bad, p)
		}
	}
}

// OWASP's five configurations pass the production floor; anything cheaper
// than the cheapest of them in memory or in total work does not.
func TestOWASPMinimum(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		m, t uint32
		ok   bool
	}{
		{47104, 1, true}, {19456, 2, true}, {12288, 3, true}, {9216, 4, true}, {7168, 5, true}, {7168, 16, true}, {131072, 1, true},
		// Each t below the memory OWASP asks for it, even where m×t is more
		// than a configuration's.
		{47103, 1, false}, {35840, 1, false}, {19455, 2, false}, {17920, 2, false}, {12287, 3, false}, {11948, 3, false},
		{9215, 4, false}, {7167, 5, false}, {7167, 16, false}, {6144, 16, false}, {64, 1, false}, {131072, 0, false},
	} {
		p := PasswordParams{Memory: tt.m, Time: tt.t, Threads: 1, SaltLen: 16, KeyLen: 32}
		if got := p.owaspMinimum(); got != tt.ok {
			t.Errorf("m=%d,t=%d: owaspMinimum = %v, want %v", tt.m, tt.t, got, tt.ok)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	const (
		tooShort  = "must be at least 8 characters"
		tooLong   = "must be at most 256 characters"
		tooCommon = "is too common: choose another"
		isEmail   = "must not be your email address"
	)
	tests := []struct {
		name, pw, email string
		want            string // message on "password", or "" for no error
	}{
		{"empty", "", "", tooShort},
		{"seven", "abcdefg", "", tooShort},
		{"exactly eight", "kx7!pq2z", "", ""},
		{"256", strings.Repeat("kx7!", 64), "", ""},
		{"257", strings.Repeat("kx7!", 64) + "z", "", tooLong},
		{"spaces count", "kx 7 ! p", "", ""},
		{"password123", "password123", "", tooCommon},
		{"qwertyuiop", "qwertyuiop", "", tooCommon},
		{"common any case", "PassWord123", "", tooCommon},
		{"iloveyou", "iloveyou", "", tooCommon},
		{"email", "Alice.Smith@Example.com", "alice.smith@example.com", isEmail},
		{"email local part", "alice.smith", "Alice.Smith@example.com", isEmail},
		{"email with spaces around", "alice.smith", "  alice.smith@example.com ", isEmail},
		{"contains email local part", "alice.smith-2025", "alice.smith@example.com", ""},
		{"email too short anyway", "bob", "bob@example.com", tooShort},
		{"no email given", "alice.smith", "", ""},
		{"seven 2-byte runes", "ééééééé", "", tooShort},
		{"eight 2-byte runes", "éééééééé", "", ""},
		{"eight 4-byte runes", "🔑🔒🔓🔐🗝🚪🏠🛡", "", ""},
		{"eight composed after NFKC", strings.Repeat("e\u0301", 8), "", ""},
		{"four after NFKC", strings.Repeat("e\u0301", 4), "", tooShort},
		{"ligatures expand under NFKC", "\ufb01\ufb01\ufb01\ufb01", "", ""}, // ﬁ → fi
		{"200 raw runes that NFKC doubles", strings.Repeat("\ufb01", 200), "", tooLong},
		{"300 raw runes that NFKC shrinks", strings.Repeat("e\u0301", 150), "", tooLong},
		{"fullwidth common password", "ｐａｓｓｗｏｒｄ１２３", "", tooCommon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckPassword(tt.pw, tt.email)
			if tt.want == "" {
				if err != nil {
					t.Errorf("CheckPassword(%q, %q) = %v; want nil", tt.pw, tt.email, err)
				}
				return
			}
			var ve *apperr.ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, apperr.ErrInvalid) {
				t.Fatalf("CheckPassword(%q, %q) = %v; want an *apperr.ValidationError", tt.pw, tt.email, err)
			}
			want := []apperr.FieldError{{Field: "password", Message: tt.want}}
			if len(ve.Fields) != 1 || ve.Fields[0] != want[0] {
				t.Errorf("CheckPassword(%q, %q) fields = %+v; want %+v", tt.pw, tt.email, ve.Fields, want)
			}
		})
	}
}

func TestCommonPasswordsList(t *testing.T) {
	t.Parallel()
	m := commonPasswords()
	lines := strings.Count(commonPasswordsText, "\n")
	if len(m) != lines || len(m) < 9000 {
		t.Errorf("got %d distinct passwords from %d lines; want about 10,000, no duplicates", len(m), lines)
	}
	for pw := range m {
		if utf8.RuneCountInString(pw) < minPasswordRunes || pw != strings.ToLower(pw) || strings.TrimSpace(pw) != pw {
			t.Errorf("list holds %q; want only lower-case entries of %d+ characters, unpadded", pw, minPasswordRunes)
		}
	}
}

func FuzzVerifyPassword(f *testing.F) {
	f.Add(mustHash(f, "correct horse battery staple", cheapParams))
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	for _, encoded := range malformedHashes(f) {
		if len(encoded) < 1024 {
			f.Add(encoded)
		}
	}
	f.Fuzz(func(t *testing.T, encoded string) {
		ok, rehash, err := verifyPassword(context.Background(), "correct horse battery staple", encoded, DefaultPasswordParams)
		if err != nil && (ok || rehash) {
			t.Errorf("verifyPassword(%q) = %v, %v, %v; want false, false with an error", encoded, ok, rehash, err)
		}
		if err == nil && len(encoded) > maxEncodedHashLen {
			t.Errorf("verifyPassword accepted a %d-byte hash", len(encoded))
		}
	})
}

func FuzzCheckPassword(f *testing.F) {
	f.Add("password123", "alice@example.com")
	f.Add("kx7!pq2z", "")
	f.Add("e\u0301e\u0301e\u0301e\u0301", "@")
	f.Add("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", "\xff@")
	f.Fuzz(func(t *testing.T, pw, email string) {
		err := CheckPassword(pw, email)
		var ve *apperr.ValidationError
		if err != nil && !errors.As(err, &ve) {
			t.Errorf("CheckPassword(%q, %q) = %v; want nil or *apperr.ValidationError", pw, email, err)
		}
	})
}

// BenchmarkHashPassword measures the cost of one signup or password change.
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword(context.Background(), "correct horse battery staple", DefaultPasswordParams); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyPassword measures the cost of one login.
func BenchmarkVerifyPassword(b *testing.B) {
	h := mustHash(b, "correct horse battery staple", DefaultPasswordParams)
	for b.Loop() {
		if ok, _, err := verifyPassword(context.Background(), "correct horse battery staple", h, DefaultPasswordParams); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkVerifyPasswordParallel shows login throughput with as many
// concurrent logins as GOMAXPROCS.
func BenchmarkVerifyPasswordParallel(b *testing.B) {
	h := mustHash(b, "correct horse battery staple", DefaultPasswordParams)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _, err := verifyPassword(context.Background(), "correct horse battery staple", h, DefaultPasswordParams); !ok || err != nil {
				b.Error(ok, err)
				return
			}
		}
	})
}
