package ratelimit

import (
	"strings"
	"sync"
	"time"
)

// RateSyntax describes what ParseRate accepts, for a variable's documentation.
const RateSyntax = "a rate EVENTS/PERIOD such as 10/min or 100/h (PERIOD: s, min, h, day or a duration such as 30s)"

// MaxKeys is the key capacity the program's limiters use: about 11 MiB
// with IP keys (114 bytes a key, measured in this package's tests), more with
// long keys such as email addresses, which callers cap at 128 bytes.
const MaxKeys = 100_000

// shard is one part of a Limiter: a bounded map of buckets with
// least-recently-used eviction.
//
// The recency list is threaded through the buckets themselves rather than
// kept in a container/list: that saves an allocation and an interface
// conversion per key, and lets a full shard recycle the evicted bucket for
// the new key, so that a flood of new keys allocates nothing but their
// strings' map entries.
type shard struct {
	mu       sync.Mutex
	buckets  map[string]*bucket
	capacity int
	lru      bucket // sentinel: lru.next is the most recently used, lru.prev the least
}

type bucket struct {
	key        string
	tat        time.Duration // see Limiter.Allow
	prev, next *bucket
}

func (s *shard) init(capacity int) {
	s.capacity = capacity
	// Not pre-sized to capacity: most limiters never see that many keys, and
	// the map grows to it by itself.
	s.buckets = make(map[string]*bucket)
	s.lru.prev, s.lru.next = &s.lru, &s.lru
}

// get returns key's bucket, marked most recently used, creating it full (tat
// = now) if it is not there. s.mu must be held.
func (s *shard) get(key string, now time.Duration) *bucket {
	if b, ok := s.buckets[key]; ok {
		s.unlink(b)
		s.pushFront(b)
		return b
	}
	var b *bucket
	if len(s.buckets) >= s.capacity {
		b = s.lru.prev
		s.unlink(b)
		delete(s.buckets, b.key)
	} else {
		b = new(bucket)
	}
	// Cloned because key may be a slice of something large, such as a
	// request header, that the map would otherwise keep alive.
	key = strings.Clone(key)
	*b = bucket{key: key, tat: now}
	s.buckets[key] = b
	s.pushFront(b)
	return b
}

func (s *shard) unlink(b *bucket) {
	b.prev.next = b.next
	b.next.prev = b.prev
}

func (s *shard) pushFront(b *bucket) {
	b.prev = &s.lru
	b.next = s.lru.next
	s.lru.next.prev = b
	s.lru.next = b
}
