package scan

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// The window of probes in flight adapts to the network, as nmap's congestion window does in
// its own way. By Little's law a scan needs rate x round-trip time probes in flight: on a
// fast link (a LAN, a veth pair: tens of microseconds) a few dozen keep the CPU busy, and
// more only add scheduling and lock contention (the namespace benchmark measured 0.6-0.9 of
// nmap's speed with 256 in flight and 1.06-1.10 with 32-128); across latency, or where
// probes wait for timeouts (firewalls that drop, absent hosts), many are needed. The round
// trip is the smallest one seen (queueing in a busy CPU inflates the average, which would
// feed back into a larger window), and probes that end without an answer open the window
// to Scanner.Concurrency at once.
const (
	// minWindow is the smallest window: what a fast link needs.
	minWindow = 64
	// windowRate is the probe rate the window is sized for (rate x round trip); set above
	// what a core sustains on a fast link so that latency opens the window early.
	windowRate = 200_000
	// silentShare: when at least this share of a tick's probes ended without an answer
	// (filtered), the window opens fully.
	silentShare = 0.05
)

// window is an in-flight limit that grows and shrinks while workers run. Workers numbered
// below the limit probe; the others wait on cond until the limit grows or the scan ends.
type window struct {
	max   int
	limit atomic.Int64

	// Measures since the last adjust.
	minRTT   atomic.Int64 // nanoseconds, of probes that got an answer; 0: none yet
	answered atomic.Int64
	silent   atomic.Int64

	mu    sync.Mutex
	cond  *sync.Cond
	ended bool
	stop  func() bool // ends the cancellation hook

	// grown, when set, is called when the limit grows: the Linux connect
	// engine (connect_linux.go) reads the limit instead of waiting on cond,
	// and sleeps in epoll_wait until told.
	grown func()
}

func newWindow(ctx context.Context, max int) *window {
	w := &window{max: max}
	w.cond = sync.NewCond(&w.mu)
	w.limit.Store(int64(min(max, minWindow)))
	w.stop = context.AfterFunc(ctx, w.end)
	return w
}

// admit returns once worker id may probe, or false when the scan has ended.
func (w *window) admit(id int) bool {
	if int64(id) < w.limit.Load() {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for int64(id) >= w.limit.Load() && !w.ended {
		w.cond.Wait()
	}
	return !w.ended
}

// end releases the waiting workers for good: no probe is left, or the scan was cancelled.
func (w *window) end() {
	w.mu.Lock()
	w.ended = true
	w.mu.Unlock()
	w.cond.Broadcast()
}

// observe records how a probe went: d is the time to its answer, or silent when none came.
func (w *window) observe(d time.Duration, silent bool) {
	if silent {
		w.silent.Add(1)
		return
	}
	w.answered.Add(1)
	for {
		cur := w.minRTT.Load()
		if cur != 0 && cur <= int64(d) || w.minRTT.CompareAndSwap(cur, max(int64(d), 1)) {
			return
		}
	}
}

// adjust sizes the window from the measures since the last call (the scan calls it ten
// times a second) and wakes workers when it grows.
func (w *window) adjust() {
	answered, silent := w.answered.Swap(0), w.silent.Swap(0)
	rtt := time.Duration(w.minRTT.Swap(0))
	cur := w.limit.Load()
	next := cur
	switch {
	case answered+silent == 0:
		// Nothing came back for a whole tick with probes out: they are slow.
		next = cur * 2
	case float64(silent) >= silentShare*float64(answered+silent):
		next = int64(w.max)
	case answered > 0:
		next = int64(math.Ceil(windowRate * rtt.Seconds()))
	}
	next = max(min(next, int64(w.max)), int64(min(w.max, minWindow)))
	if next == cur {
		return
	}
	w.limit.Store(next)
	if next > cur {
		w.mu.Lock() // so that no worker misses the wake-up between its check and its Wait
		w.mu.Unlock()
		w.cond.Broadcast()
		if w.grown != nil {
			w.grown()
		}
	}
}
