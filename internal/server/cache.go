package server

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/patchday/patchday/internal/store"
)

// DefaultAuthCacheTTL bounds how long a node keeps an authenticated caller without asking the
// database again. Changes made through this node (revocation, logout, role changes) take
// effect at once; changes made through another node of a cluster take effect within this
// time. Token expiry is always checked against the clock, on every request.
const DefaultAuthCacheTTL = 5 * time.Second

// maxCached bounds each cache; when full it starts afresh, which costs only lookups.
const maxCached = 10000

// principal is an authenticated caller.
type principal struct {
	token   store.Token
	user    store.User
	members []store.Membership
}

type cached[T any] struct {
	v    T
	gen  uint64
	when time.Time
}

// authCache remembers recent callers and organisations. Every change that can narrow what a
// caller may do bumps gen, which invalidates everything cached before it.
type authCache struct {
	ttl        time.Duration // 0: cache nothing
	gen        atomic.Uint64
	mu         sync.RWMutex
	principals map[string]cached[principal] // by token hash
	orgs       map[string]cached[store.Org] // by slug
}

func newAuthCache(ttl time.Duration) *authCache {
	return &authCache{ttl: ttl, principals: map[string]cached[principal]{}, orgs: map[string]cached[store.Org]{}}
}

// invalidate forgets everything cached so far.
func (c *authCache) invalidate() { c.gen.Add(1) }

func lookup[T any](c *authCache, m map[string]cached[T], key string, now time.Time) (T, bool) {
	c.mu.RLock()
	e, ok := m[key]
	c.mu.RUnlock()
	if !ok || e.gen != c.gen.Load() || now.Sub(e.when) > c.ttl || now.Before(e.when) {
		var zero T
		return zero, false
	}
	return e.v, true
}

func remember[T any](c *authCache, m map[string]cached[T], key string, v T, gen uint64, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(m) >= maxCached {
		clear(m)
	}
	m[key] = cached[T]{v: v, gen: gen, when: now}
}
