package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"

	"github.com/rightsize/rightsize/internal/platform/apperr"
)

// PasswordParams are the argon2id cost parameters of a password hash. They
// are written into every hash, so raising them later only affects new hashes;
// verifyPassword reports older ones for rehashing.
type PasswordParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultPasswordParams are PASSWORD_HASH's default, the costs new hashes
// are made with unless it says otherwise: OWASP's Password Storage Cheat
// Sheet configuration m=19 MiB, t=2, p=1.
//
// OWASP's configurations (46 MiB×1 pass, 19 MiB×2, 12 MiB×3, ...) are meant to
// cost about the same CPU. Of those, 19 MiB×2 is chosen because the service
// runs in a small container (2 cores): every concurrent login holds its
// argon2 memory for the whole hash, so a burst of logins costs 19 MiB each
// instead of 46 MiB, while the work per guess for an attacker with the hash
// stays at OWASP's level. One lane (p=1) because with two cores a second lane
// would only compete with the next concurrent login.
var DefaultPasswordParams = PasswordParams{
	Memory:  19 * 1024,
	Time:    2,
	Threads: 1,
	SaltLen: 16,
	KeyLen:  32,
}

// Password length bounds, in Unicode characters (runes). NIST SP 800-63B asks
// for at least 8 and for allowing at least 64; the 256 cap bounds the work a
// request can cause.
const (
	minPasswordRunes = 8
	maxPasswordRunes = 256
	// maxPasswordBytes bounds the bytes of an acceptable password: 4 per rune.
	maxPasswordBytes = 4 * maxPasswordRunes
)

// Bounds on parameters read from a stored hash. The hash comes from our own
// database, but a corrupted or tampered row must not make one login allocate
// gigabytes or spin for minutes; the bounds leave room for raising the
// defaults several times over.
const (
	maxPasswordMemory  = 128 * 1024 // KiB
	maxPasswordTime    = 16
	maxPasswordThreads = 8
	minPasswordSaltLen = 8
	maxPasswordSaltLen = 64
	minPasswordKeyLen  = 16
	maxPasswordKeyLen  = 64
	// Longer than any hash with the bounds above; checked first so that a
	// huge value is refused before any parsing.
	maxEncodedHashLen = 256
)

// errMalformedHash is what verifyPassword wraps for a stored hash it cannot
// use: that is our data gone bad, not the caller's input, so it is no apperr
// kind and surfaces as a 500.
var errMalformedHash = errors.New("malformed password hash")

var b64 = base64.RawStdEncoding.Strict()

// HashPassword returns the argon2id hash of pw, with a new random salt, in
// the PHC string format:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//
// with salt and hash in unpadded standard base64. pw is NFKC-normalized first
// (as NIST SP 800-63B asks), so the same password typed with composed or
// decomposed accents verifies either way. It returns an error only if p is
// outside the bounds verifyPassword accepts, since such a hash could never be
// verified, or when it cannot get a hashing slot (see [acquireHashSlot]).
func HashPassword(ctx context.Context, pw string, p PasswordParams) (string, error) {
	if err := p.check(); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	salt := make([]byte, p.SaltLen)
	rand.Read(salt) // never fails: crypto/rand crashes the program instead
	key, err := idKey(ctx, pw, salt, p)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// verifyPassword reports whether pw matches encoded, a hash made by
// HashPassword, comparing in constant time. needsRehash is true when the
// password matched but encoded was made with parameters other than current
// (PASSWORD_HASH): the caller should then store HashPassword(pw, current)
// in its place. err is non-nil only when encoded is
// not a well-formed argon2id hash within sane cost bounds, or when no
// hashing slot could be had (see [acquireHashSlot]); ok is then false. It
// never panics, whatever encoded holds.
func verifyPassword(ctx context.Context, pw, encoded string, current PasswordParams) (ok bool, needsRehash bool, err error) {
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, false, err
	}
	if len(pw) > maxPasswordBytes {
		return false, false, nil // longer than any password we accept
	}
	got, err := idKey(ctx, pw, salt, p)
	if err != nil {
		return false, false, err
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return false, false, nil
	}
	return true, p != current, nil
}

// dummyHashes holds, per parameters, a hash of a random password that
// nobody knows, made on first use rather than at init so that programs
// which never log anyone in (migrations, tests of other packages) do not pay
// for it.
var dummyHashes sync.Map // PasswordParams → string

// dummyHash returns the dummy hash made with p, making it if there is none
// yet. It fails only as HashPassword does; a failure is not remembered.
func dummyHash(p PasswordParams) (string, error) {
	if h, ok := dummyHashes.Load(p); ok {
		return h.(string), nil
	}
	pw := make([]byte, 32)
	rand.Read(pw)
	h, err := HashPassword(context.Background(), string(pw), p)
	if err != nil {
		return "", err
	}
	kept, _ := dummyHashes.LoadOrStore(p, h)
	return kept.(string), nil
}

// dummyVerify does the work of verifyPassword against a hash made with p,
// and throws the result away. Call it where a real verification would have
// happened had the account existed (login with an unknown email), so that
// the response time does not tell whether it does. The first call in a
// process also makes the dummy hash, so it costs about twice as much as
// later ones. It returns verifyPassword's error for want of a slot, so that
// the unknown account answers as a known one would.
func dummyVerify(ctx context.Context, pw string, p PasswordParams) error {
	h, err := dummyHash(p)
	if err != nil {
		return err
	}
	_, _, err = verifyPassword(ctx, pw, h, p)
	return err
}

// ParsePasswordParams parses PASSWORD_HASH: the costs of a hash as PHC
// writes them, "m=19456,t=2,p=1" (memory in KiB, passes, lanes), within the
// bounds verifyPassword accepts, with one lane: the hashing slots (see
// [acquireHashSlot]) count one core per hash. Salt and key lengths are
// DefaultPasswordParams'.
func ParsePasswordParams(s string) (PasswordParams, error) {
	p, err := decodeCosts(s)
	if err != nil {
		return PasswordParams{}, err
	}
	if p.Threads != 1 {
		return PasswordParams{}, errors.New("want p=1")
	}
	p.SaltLen, p.KeyLen = DefaultPasswordParams.SaltLen, DefaultPasswordParams.KeyLen
	return p, p.check()
}

// decodeCosts parses "m=...,t=...,p=...", in that order, into the costs of
// a PasswordParams (not yet checked against the bounds).
func decodeCosts(s string) (PasswordParams, error) {
	costs := strings.Split(s, ",")
	if len(costs) != 3 {
		return PasswordParams{}, errors.New("want m=...,t=...,p=...")
	}
	m, err1 := decodeCost(costs[0], "m=", 32)
	t, err2 := decodeCost(costs[1], "t=", 32)
	th, err3 := decodeCost(costs[2], "p=", 8)
	if err := errors.Join(err1, err2, err3); err != nil {
		return PasswordParams{}, err
	}
	return PasswordParams{Memory: uint32(m), Time: uint32(t), Threads: uint8(th)}, nil
}

// owaspMinimum reports whether p costs at least one of the configurations
// of OWASP's Password Storage Cheat Sheet: 46 MiB for one pass, 19 MiB for
// two, 12 MiB for three, 9 MiB for four, 7 MiB for five or more.
func (p PasswordParams) owaspMinimum() bool {
	minimum := [...]uint32{1: 47104, 2: 19456, 3: 12288, 4: 9216, 5: 7168}
	return p.Time >= 1 && p.Memory >= minimum[min(p.Time, 5)]
}

// CheckPassword returns an *apperr.ValidationError on field "password" if pw
// breaks the password rules of NIST SP 800-63B: fewer than 8 or more than 256
// characters (counted in runes, before and after NFKC normalization), one of
// the 10,000 most common passwords, or the same as email or its local part
// (all compared case-insensitively). email may be empty. There are, on
// purpose, no rules about character classes. It returns nil if pw is
// acceptable.
func CheckPassword(pw, email string) error {
	var v apperr.Validation
	if msg := passwordProblem(pw, email); msg != "" {
		v.Add("password", msg)
	}
	return v.Err()
}

// passwordProblem returns why pw is not acceptable, or "" if it is; see
// CheckPassword.
func passwordProblem(pw, email string) string {
	// Checked on the bytes first: NFKC of a huge hostile input costs far more
	// than its size (a megabyte of U+FDFA took 0.7 s and 66 MiB).
	if len(pw) > maxPasswordBytes {
		return fmt.Sprintf("must be at most %d characters", maxPasswordRunes)
	}
	if len(email) > 254 {
		email = "" // not an address; its own validation says so
	}
	n := norm.NFKC.String(pw)
	raw, normalized := utf8.RuneCountInString(pw), utf8.RuneCountInString(n)
	// Both counts, because NFKC can shrink a string (composing accents) or
	// grow it (expanding ligatures), and login bounds the raw count.
	switch {
	case normalized < minPasswordRunes:
		return fmt.Sprintf("must be at least %d characters", minPasswordRunes)
	case raw > maxPasswordRunes || normalized > maxPasswordRunes:
		return fmt.Sprintf("must be at most %d characters", maxPasswordRunes)
	}
	lower := strings.ToLower(n)
	if _, common := commonPasswords()[lower]; common {
		return "is too common: choose another"
	}
	if email = strings.ToLower(norm.NFKC.String(strings.TrimSpace(email))); email != "" {
		local := email
		if i := strings.LastIndexByte(email, '@'); i >= 0 {
			local = email[:i]
		}
		if lower == email || lower == local {
			return "must not be your email address"
		}
	}
	return ""
}

// commonpasswords.txt holds the 10,000 most common passwords of 8 characters
// or more, lower case; commonpasswords.NOTICE says where it comes from and
// under which license. Shorter ones are left out because the length rule
// already refuses them.
//
//go:embed commonpasswords.txt
var commonPasswordsText string

var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 10000)
	for line := range strings.Lines(commonPasswordsText) {
		if line = strings.TrimRight(line, "\r\n"); line != "" {
			m[line] = struct{}{}
		}
	}
	return m
})

// check reports whether p is within the bounds decodeHash accepts.
func (p PasswordParams) check() error {
	switch {
	case p.Time < 1 || p.Time > maxPasswordTime:
		return fmt.Errorf("argon2id time %d outside 1..%d", p.Time, maxPasswordTime)
	case p.Threads < 1 || p.Threads > maxPasswordThreads:
		return fmt.Errorf("argon2id threads %d outside 1..%d", p.Threads, maxPasswordThreads)
	// argon2 needs 8 KiB per lane; below that it would silently use more
	// than the hash says.
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxPasswordMemory:
		return fmt.Errorf("argon2id memory %d KiB outside %d..%d", p.Memory, 8*uint32(p.Threads), maxPasswordMemory)
	case p.SaltLen < minPasswordSaltLen || p.SaltLen > maxPasswordSaltLen:
		return fmt.Errorf("argon2id salt length %d outside %d..%d", p.SaltLen, minPasswordSaltLen, maxPasswordSaltLen)
	case p.KeyLen < minPasswordKeyLen || p.KeyLen > maxPasswordKeyLen:
		return fmt.Errorf("argon2id key length %d outside %d..%d", p.KeyLen, minPasswordKeyLen, maxPasswordKeyLen)
	}
	return nil
}

// decodeHash parses a PHC argon2id string strictly: one spelling per hash,
// parameters in the order m, t, p, no padding, every cost bounded before any
// memory is allocated for it.
func decodeHash(encoded string) (p PasswordParams, salt, key []byte, err error) {
	fail := func(why string) (PasswordParams, []byte, []byte, error) {
		return PasswordParams{}, nil, nil, fmt.Errorf("%w: %s", errMalformedHash, why)
	}
	if len(encoded) > maxEncodedHashLen {
		return fail("too long")
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return fail("want $argon2id$v=...$m=...,t=...,p=...$salt$hash")
	}
	if parts[1] != "argon2id" {
		return fail("algorithm is not argon2id")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return fail("unsupported version")
	}
	p, err = decodeCosts(parts[3])
	if err != nil {
		return fail(err.Error())
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil {
		return fail("salt is not unpadded base64")
	}
	if key, err = b64.DecodeString(parts[5]); err != nil {
		return fail("hash is not unpadded base64")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.check(); err != nil {
		return fail(err.Error())
	}
	return p, salt, key, nil
}

// decodeCost parses "<prefix><decimal>", refusing signs, leading zeros and
// anything else strconv would tolerate, so each hash has one spelling.
func decodeCost(s, prefix string, bits int) (uint64, error) {
	digits, ok := strings.CutPrefix(s, prefix)
	if !ok || digits == "" || len(digits) > 10 || (digits[0] == '0' && len(digits) > 1) || digits[0] < '0' || digits[0] > '9' {
		return 0, fmt.Errorf("bad %q", s)
	}
	n, err := strconv.ParseUint(digits, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("bad %q", s)
	}
	return n, nil
}

// Password hashing is the one CPU-heavy thing a request can ask for, and
// anyone can ask (login, signup). hashSlots bounds how many argon2id
// computations run at once: half the CPUs (at least one), so that under a
// storm of logins the other routes still find a core, and each computation
// holds its memory (19 MiB at the default costs) only while it runs. At most
// hashQueueLen requests wait for a slot; beyond that, and when a waiter's
// context ends, the request is refused at once rather than queued for a
// client that may have left.
var (
	hashSlots    = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))
	hashQueueLen = int64(16 * cap(hashSlots))
	hashWaiting  atomic.Int64
)

// errHashBusy answers a request that found the waiting line full.
var errHashBusy = &apperr.Error{
	Kind:       apperr.ErrUnavailable,
	Message:    "too many sign-ins at once: try again in a moment",
	RetryAfter: time.Second,
}

// acquireHashSlot waits for a hashing slot and returns its release. It
// returns errHashBusy if hashQueueLen requests already wait, and ctx's error
// (for which the client that left, or the deadline, answers) if ctx ends
// while waiting.
func acquireHashSlot(ctx context.Context) (release func(), err error) {
	release = func() { <-hashSlots }
	select {
	case hashSlots <- struct{}{}:
		return release, nil
	default:
	}
	if hashWaiting.Add(1) > hashQueueLen {
		hashWaiting.Add(-1)
		return nil, errHashBusy
	}
	defer hashWaiting.Add(-1)
	select {
	case hashSlots <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a hashing slot: %w", ctx.Err())
	}
}

func idKey(ctx context.Context, pw string, salt []byte, p PasswordParams) ([]byte, error) {
	release, err := acquireHashSlot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return argon2.IDKey([]byte(norm.NFKC.String(pw)), salt, p.Time, p.Memory, p.Threads, p.KeyLen), nil
}
