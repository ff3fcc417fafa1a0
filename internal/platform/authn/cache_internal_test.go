package authn

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testKey(i int) tokenKey {
	return sha256.Sum256(fmt.Appendf(nil, "token %d", i))
}

// testClaims returns claims shaped like ours: 30-byte IDs, each its own
// allocation as JSON decoding makes them.
func testClaims(i int) (Claims, window) {
	c := Claims{
		UserID:    fmt.Sprintf("usr_%026d", i),
		SessionID: fmt.Sprintf("ses_%026d", i),
		IssuedAt:  testNow,
		ExpiresAt: testNow.Add(15 * time.Minute),
	}
	return c, window{from: c.IssuedAt.Add(-clockSkew), until: c.ExpiresAt.Add(clockSkew)}
}

// putTest caches token i.
func putTest(c *tokenCache, i int) {
	claims, w := testClaims(i)
	c.put(testKey(i), claims, w)
}

func TestTokenCacheEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	c := newTokenCache(3) // one shard
	for i := range 3 {
		putTest(c, i)
	}
	if _, ok := c.get(testKey(0), testNow); !ok { // 0 is now the most recent; 1 the least
		t.Fatal("token 0: got a miss, want a hit")
	}
	putTest(c, 2) // again: refreshed, not added
	putTest(c, 3)
	for i, want := range []bool{true, false, true, true} {
		got, ok := c.get(testKey(i), testNow)
		if ok != want {
			t.Errorf("token %d: got hit %v, want %v", i, ok, want)
		}
		if wantClaims, _ := testClaims(i); ok && got != wantClaims {
			t.Errorf("token %d: got %+v, want %+v", i, got, wantClaims)
		}
	}
	if n := c.len(); n != 3 {
		t.Errorf("len: got %d, want 3", n)
	}
}

func TestTokenCacheSpreadsCapacityExactly(t *testing.T) {
	t.Parallel()
	for _, capacity := range []int{1, 255, 256, 1000, 4099, tokenCacheSize, 100_003} {
		c := newTokenCache(capacity)
		sum := 0
		for i := range c.shards {
			sum += c.shards[i].capacity
		}
		if sum != capacity || len(c.shards) > maxShards {
			t.Errorf("capacity %d: got %d in %d shards, want %d in at most %d", capacity, sum, len(c.shards), capacity, maxShards)
		}
	}
}

// TestTokenCacheMemory fills a cache of the size the program uses with
// twice as many tokens as it holds and measures what it keeps on the heap:
// the bytes per entry that tokenCacheSize's comment quotes.
//
// Not parallel: it measures the heap, and parallel tests wait until the
// sequential ones are done, so nothing else allocates meanwhile.
func TestTokenCacheMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	c := newTokenCache(tokenCacheSize)
	for i := range 2 * tokenCacheSize {
		putTest(c, i)
		if i%1000 == 0 {
			if n := c.len(); n > tokenCacheSize {
				t.Fatalf("after %d tokens: got %d cached, want at most %d", i+1, n, tokenCacheSize)
			}
		}
	}
	if n := c.len(); n != tokenCacheSize {
		t.Errorf("len at the end: got %d, want %d (full)", n, tokenCacheSize)
	}

	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(c)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap growth with %d tokens cached: %.2f MiB (%d bytes per token)",
		tokenCacheSize, float64(growth)/(1<<20), growth/tokenCacheSize)
	if limit := int64(16 << 20); growth > limit {
		t.Errorf("heap growth: got %d bytes, want under %d", growth, limit)
	}
}

// FuzzAuthenticatorVerify checks that the cache never changes a verdict: for
// any token at any time, with whatever earlier inputs left in the cache,
// the Authenticator's answer is Keys.Verify's.
func FuzzAuthenticatorVerify(f *testing.F) {
	keys, err := ParseKeys("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=")
	if err != nil {
		f.Fatal(err)
	}
	valid, _, err := keys.Issue("usr_1", "ses_1", 15*time.Minute, testNow)
	if err != nil {
		f.Fatal(err)
	}
	for _, sec := range []int16{0, -5, -6, 900, 905, 906, 3600} {
		f.Add(valid, sec)
	}
	f.Add(valid[:len(valid)-1]+"B", int16(0))
	f.Add(valid+".", int16(0))
	f.Add("", int16(0))
	now := testNow
	a := NewAuthenticator(keys, nil, func() time.Time { return now })
	a.cache = newTokenCache(8) // small, so that fuzzing exercises eviction
	f.Fuzz(func(t *testing.T, token string, sec int16) {
		now = testNow.Add(time.Duration(sec) * time.Second)
		for range 2 { // the second time, from the cache if it was kept
			got, err := a.verify(token, now)
			want, werr := keys.Verify(token, now)
			if got != want || (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
				t.Fatalf("at %v, token %q: got %+v, %v; Verify says %+v, %v", now, token, got, err, want, werr)
			}
		}
	})
}
