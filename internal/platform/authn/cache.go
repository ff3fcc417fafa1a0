package authn

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"
)

// tokenCacheSize is how many verified access tokens an [Authenticator]
// remembers: 335 bytes each with our 30-byte user and session IDs (entry,
// map slot and the two ID strings, measured by TestTokenCacheMemory), so
// 10.5 MiB when full. That covers 32,768 sessions active within one
// access-token TTL on one instance; past that the least recently used tokens
// are verified again, at the cost the cache saves (tens of microseconds
// each), and nothing else changes. Only tokens we signed get in, so nobody
// can flush it without logging in that many times.
const tokenCacheSize = 1 << 15

// tokenKey is what the cache knows a token by: its SHA-256. Only the exact
// same token string has the same key (finding another is finding a SHA-256
// collision), an entry costs 32 bytes of key rather than the token's 300,
// and the table holds no bearer credential that a heap dump could leak.
type tokenKey = [sha256.Size]byte

// tokenCache remembers the claims of access tokens that verified, so that a
// token presented again skips the signature check, which costs some hundred
// times the lookup. It holds at most its capacity, forgetting the
// least recently used token to make room, and is safe for concurrent use.
//
// The cache never accepts a token that [Keys.Verify] would reject:
//   - only tokens that verified are put in it, under the hash of their exact
//     string, so a token altered in any byte is a miss and is verified;
//   - a hit is checked against the token's time window again (see window),
//     so a cached token expires at exp as it would uncached;
//   - the keys cannot change under it: [Keys] is immutable and the cache
//     belongs to one Authenticator built from them, so taking a key out of
//     AUTH_SIGNING_KEY takes a restart, which empties the cache.
//
// What it does not change: an access token is valid until it expires whether
// cached or not, since verifying one never looks at the database.
type tokenCache struct {
	shards []cacheShard
}

// cacheShard is one part of a tokenCache: a bounded map with
// least-recently-used eviction, as ratelimit's shard is. The recency list is
// threaded through the entries, and a full shard recycles the entry it evicts.
type cacheShard struct {
	mu       sync.Mutex
	entries  map[tokenKey]*cacheEntry
	capacity int
	lru      cacheEntry // sentinel: lru.next is the most recently used, lru.prev the least
}

type cacheEntry struct {
	key        tokenKey
	claims     Claims
	valid      window
	prev, next *cacheEntry
}

// Shards, as in ratelimit: every authenticated request looks its token up and
// a hit moves it to the front, so under one mutex every request would wait
// for every other. minShardTokens keeps each shard's LRU close to a global one.
const (
	minShardTokens = 256
	maxShards      = 64
)

// newTokenCache returns an empty cache holding at most capacity tokens. It
// panics if capacity < 1, a programming error.
func newTokenCache(capacity int) *tokenCache {
	if capacity < 1 {
		panic("authn: token cache capacity must be at least 1")
	}
	n := min(maxShards, max(1, capacity/minShardTokens))
	c := &tokenCache{shards: make([]cacheShard, n)}
	for i := range c.shards {
		// Spread capacity exactly, so that the shards together never exceed it.
		s := &c.shards[i]
		s.capacity = capacity / n
		if i < capacity%n {
			s.capacity++
		}
		s.entries = make(map[tokenKey]*cacheEntry)
		s.lru.prev, s.lru.next = &s.lru, &s.lru
	}
	return c
}

func (c *tokenCache) shard(key tokenKey) *cacheShard {
	// The key is a SHA-256: its bytes are already uniformly spread, and only
	// tokens we signed get in, so nobody can aim at one shard.
	return &c.shards[binary.LittleEndian.Uint64(key[:8])%uint64(len(c.shards))]
}

// get returns the claims cached under key if its token is valid at now. An
// entry whose window does not contain now is dropped and reported as a miss,
// so that Verify itself rejects the token with the precise message.
func (c *tokenCache) get(key tokenKey, now time.Time) (Claims, bool) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok {
		return Claims{}, false
	}
	if !e.valid.contains(now) {
		s.unlink(e)
		delete(s.entries, key)
		return Claims{}, false
	}
	s.unlink(e)
	s.pushFront(e)
	return e.claims, true
}

// put caches the claims of a token that verified, valid within w, as the
// most recently used, evicting the least recently used token if the shard
// is full. Concurrent misses on one token put the same claims twice; the
// second overwrites the first.
func (c *tokenCache) put(key tokenKey, claims Claims, w window) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	switch {
	case ok:
		s.unlink(e)
	case len(s.entries) >= s.capacity:
		e = s.lru.prev
		s.unlink(e)
		delete(s.entries, e.key)
	default:
		e = new(cacheEntry)
	}
	*e = cacheEntry{key: key, claims: claims, valid: w}
	s.entries[key] = e
	s.pushFront(e)
}

// len returns how many tokens the cache holds.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.entries)
		s.mu.Unlock()
	}
	return n
}

func (s *cacheShard) unlink(e *cacheEntry) {
	e.prev.next = e.next
	e.next.prev = e.prev
}

func (s *cacheShard) pushFront(e *cacheEntry) {
	e.prev = &s.lru
	e.next = s.lru.next
	s.lru.next.prev = e
	s.lru.next = e
}
