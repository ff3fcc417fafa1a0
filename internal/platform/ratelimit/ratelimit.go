// Package ratelimit limits how often a key (a client IP, an account, a
// principal) may do something, in memory, with memory bounded however many
// distinct keys arrive.
//
// Limits are per process: each instance counts only the requests it serves,
// so N instances behind a load balancer together allow up to N times the
// configured rate. At the scale this project targets (a few instances) that
// is an acceptable price for having no shared store in the request path; a
// shared limiter (Redis) is worth its operational cost only once metrics show
// abuse getting through.
//
// A typical set-up limits per client IP in front of a route and per account
// inside the handler, once the body has been decoded. Example_login shows both
// on a login route.
package ratelimit

import (
	"crypto/sha256"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
)

// Rate is how many events a key may have per period: Events per Per, with
// bursts of up to Events. Rate{Events: 10, Per: time.Minute} allows 10
// requests at once, then one every 6 seconds.
type Rate struct {
	Events int
	Per    time.Duration
}

// String formats r the way [ParseRate] reads it, e.g. "10/min".
func (r Rate) String() string {
	unit := r.Per.String()
	switch r.Per {
	case time.Second:
		unit = "s"
	case time.Minute:
		unit = "min"
	case time.Hour:
		unit = "h"
	case 24 * time.Hour:
		unit = "day"
	}
	return strconv.Itoa(r.Events) + "/" + unit
}

func (r Rate) validate() error {
	if r.Events <= 0 || r.Per <= 0 {
		return fmt.Errorf("rate %d per %v: events and period must be positive", r.Events, r.Per)
	}
	if r.Per/time.Duration(r.Events) == 0 {
		return fmt.Errorf("rate %d per %v: more than one event per nanosecond", r.Events, r.Per)
	}
	return nil
}

var units = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "second": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hour": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour,
}

// ParseRate reads a rate written as EVENTS/PERIOD, where PERIOD is a unit
// (s, sec, second; m, min, minute; h, hr, hour; d, day) or a Go duration
// ("10/30s", "5/1m30s"). Examples: "10/min", "600/m", "5/s", "100/h". It
// returns an error for anything else, including a zero or negative rate, so
// that a bad config value stops the program at start-up.
func ParseRate(s string) (Rate, error) {
	events, period, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: want EVENTS/PERIOD, like 10/min", s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(events))
	if err != nil {
		return Rate{}, fmt.Errorf("rate %q: events: want a whole number", s)
	}
	period = strings.TrimSpace(period)
	per, ok := units[strings.ToLower(period)]
	if !ok {
		if per, err = time.ParseDuration(period); err != nil {
			return Rate{}, fmt.Errorf("rate %q: period: want s, min, h, day or a duration like 30s", s)
		}
	}
	r := Rate{Events: n, Per: per}
	if err := r.validate(); err != nil {
		return Rate{}, fmt.Errorf("rate %q: %w", s, err)
	}
	return r, nil
}

// Limiter is a set of token buckets, one per key, all with the same [Rate].
// It is safe for concurrent use.
//
// It keeps at most maxKeys buckets. When full, it forgets the least recently
// used one to make room. Forgetting a bucket is the same as refilling it, so
// eviction can only let a forgotten key through sooner than its limit would;
// it never blocks a key that should pass. An attacker who cycles through
// more than maxKeys keys (say, IPv4 addresses) within one refill period can
// therefore loosen the limit on the keys it pushes out; size maxKeys so that
// this takes more distinct keys than the threat is likely to have.
type Limiter struct {
	interval time.Duration // between two tokens: Per / Events
	burst    time.Duration // interval × Events: how far ahead a key may borrow
	epoch    time.Time     // times are stored as offsets from it, see offset
	seed     maphash.Seed
	shards   []shard
}

// minShardKeys keeps shards large enough that a key's shard fills up at about
// the same time as the others, so that per-shard LRU stays close to global LRU.
const minShardKeys = 256

// maxKeyLen is the longest key stored as is; longer ones are stored as their
// SHA-256, so a bucket never costs more than about 100 + maxKeyLen bytes.
const maxKeyLen = 128

// maxShards is enough to make lock contention negligible on the machines this
// runs on; more would only cost memory for small limiters.
const maxShards = 64

// New returns a Limiter that allows each key rate.Events events per rate.Per
// and holds at most maxKeys keys. It panics if rate is not positive or
// maxKeys < 1: both are programming errors (config values go through
// [ParseRate] first).
//
// Each bucket costs about 100 bytes plus its key (keys over 128 bytes are
// stored as a 32-byte hash): measured, 10,000 IPv4 keys take 1.1 MiB.
func New(rate Rate, maxKeys int) *Limiter {
	if err := rate.validate(); err != nil {
		panic("ratelimit.New: " + err.Error())
	}
	if maxKeys < 1 {
		panic("ratelimit.New: maxKeys must be at least 1")
	}
	// Shards, not one LRU under one mutex: every request of a route passes
	// through here, so one lock would serialize all of them. The price is that
	// eviction is least-recently-used within a shard rather than overall, which
	// with hash-spread keys and minShardKeys per shard makes little difference.
	n := min(maxShards, max(1, maxKeys/minShardKeys))
	l := &Limiter{
		interval: rate.Per / time.Duration(rate.Events),
		epoch:    time.Now(),
		seed:     maphash.MakeSeed(),
		shards:   make([]shard, n),
	}
	l.burst = l.interval * time.Duration(rate.Events)
	for i := range l.shards {
		// Spread maxKeys exactly, so that the shards together never exceed it.
		capacity := maxKeys / n
		if i < maxKeys%n {
			capacity++
		}
		l.shards[i].init(capacity)
	}
	return l
}

// Allow reports whether key may have one more event at time now, and uses it
// up if so. When it may not, retryAfter is how long until it may; nothing is
// used up, so a client that keeps retrying while blocked still gets through
// at the configured rate.
//
// now is a parameter so that tests control time; callers pass time.Now().
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	key, s := l.shard(key)
	t := l.offset(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.get(key, t)
	// GCRA, a token bucket kept as a single number: tat is when the bucket
	// will be full again. A request moves it one interval later, and is
	// allowed if the bucket then still holds at most burst worth of debt.
	tat := max(b.tat, t) + l.interval
	if wait := tat - l.burst - t; wait > 0 {
		return false, wait
	}
	b.tat = tat
	return true, 0
}

// Wait returns how long key must wait, at time now, before [Allow] would
// let it have an event: 0 if it may have one now. It uses nothing up and
// creates no bucket, so it is cheap to ask about keys that never fail.
func (l *Limiter) Wait(key string, now time.Time) time.Duration {
	key, s := l.shard(key)
	t := l.offset(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[key]
	if !ok {
		return 0
	}
	return max(0, max(b.tat, t)+l.interval-l.burst-t)
}

// shard returns the key as stored and the shard that holds it.
func (l *Limiter) shard(key string) (string, *shard) {
	if len(key) > maxKeyLen {
		// Keys may come from client input (an email in a login body); hashing
		// long ones keeps the memory bound independent of what clients send.
		sum := sha256.Sum256([]byte(key))
		key = string(sum[:])
	}
	return key, &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
}

// Check is Allow(key, time.Now()) as an error, for handlers that learn the
// key only after decoding the body, such as a per-account limit on login. It
// returns nil if the event is allowed; otherwise an *apperr.Error of kind
// apperr.ErrRateLimited, with the wait as its RetryAfter and the message
// "too many requests: try again in N s", so that httpx.Error answers it with
// 429, that message and a Retry-After header of N.
func (l *Limiter) Check(key string) error {
	if ok, wait := l.Allow(key, time.Now()); !ok {
		return tooMany(wait)
	}
	return nil
}

// Blocked is [Wait] as an error, like [Check]'s, for limits that count only
// failures: ask Blocked before doing the work, and Allow once it has failed,
// so that successes never use the limit up. Requests in flight together all
// pass Blocked before any of them is counted, so a client can exceed the
// limit by as many requests as it runs at once, once.
func (l *Limiter) Blocked(key string) error {
	if wait := l.Wait(key, time.Now()); wait > 0 {
		return tooMany(wait)
	}
	return nil
}

// Spent reports whether key has used any event that has not yet been given
// back: whether, at this rate, it has been active lately. It creates no
// bucket. A login that has been failing is told from one that has not this
// way.
func (l *Limiter) Spent(key string) bool {
	key, s := l.shard(key)
	t := l.offset(time.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[key]
	return ok && b.tat > t
}

// tooMany is the error of a key that must wait.
func tooMany(wait time.Duration) error {
	// Whole seconds rounded up, as in the Retry-After header httpx.Error
	// sets, so the body and the header agree.
	secs := max(1, (wait+time.Second-1)/time.Second)
	return &apperr.Error{
		Kind:       apperr.ErrRateLimited,
		Message:    fmt.Sprintf("too many requests: try again in %d s", secs),
		RetryAfter: wait,
	}
}

// Len returns how many keys the Limiter currently remembers: at most the
// maxKeys given to [New].
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}

// offset turns now into a duration since the Limiter was made. Against
// time.Now() values this uses the monotonic clock, so a wall-clock step (NTP,
// a VM resume) neither blocks every key nor refills them all.
func (l *Limiter) offset(now time.Time) time.Duration {
	return now.Sub(l.epoch)
}
