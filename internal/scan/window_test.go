package scan

import (
	"context"
	"sync"
	"testing"
	"time"
)

// The window of probes in flight follows the network: small on a fast link, full across
// latency or when probes go unanswered, doubling while nothing comes back.
func TestWindowAdjust(t *testing.T) {
	tests := []struct {
		name     string
		max      int
		start    int64
		rtts     []time.Duration // answered probes
		silent   int
		want     int64
		wantWake bool
	}{
		{"fast link stays small", 256, 64, []time.Duration{40 * time.Microsecond, 9 * time.Microsecond, 300 * time.Microsecond}, 0, 64, false},
		{"fast link shrinks back", 256, 256, []time.Duration{20 * time.Microsecond}, 0, 64, false},
		{"1 ms round trip", 256, 64, []time.Duration{time.Millisecond, 3 * time.Millisecond}, 0, 200, true},
		{"10 ms round trip opens fully", 256, 64, []time.Duration{10 * time.Millisecond}, 0, 256, true},
		{"unanswered probes open fully", 256, 64, []time.Duration{20 * time.Microsecond, 20 * time.Microsecond}, 1, 256, true},
		{"nothing back for a tick doubles", 256, 64, nil, 0, 128, true},
		{"doubling stops at the maximum", 256, 200, nil, 0, 256, true},
		{"a small scan's maximum", 10, 10, []time.Duration{10 * time.Millisecond}, 0, 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWindow(context.Background(), tt.max)
			defer w.stop()
			w.limit.Store(tt.start)
			for _, d := range tt.rtts {
				w.observe(d, false)
			}
			for range tt.silent {
				w.observe(0, true)
			}
			// A worker past the current limit waits, and wakes when the window grows.
			woke := make(chan bool, 1)
			id := int(tt.start)
			if id < tt.max {
				go func() { woke <- w.admit(id) }()
				time.Sleep(10 * time.Millisecond)
			}
			w.adjust()
			if got := w.limit.Load(); got != tt.want {
				t.Errorf("window %d, want %d", got, tt.want)
			}
			if id >= tt.max {
				return
			}
			// A wake may take a while on a loaded machine; where none may come, a
			// short look.
			wait := 50 * time.Millisecond
			if tt.wantWake {
				wait = 5 * time.Second
			}
			select {
			case ok := <-woke:
				if !tt.wantWake || !ok {
					t.Errorf("worker %d admitted (%v) with the window at %d", id, ok, w.limit.Load())
				}
			case <-time.After(wait):
				if tt.wantWake {
					t.Errorf("worker %d still waits with the window at %d", id, w.limit.Load())
				}
				w.end()
				if ok := <-woke; ok {
					t.Error("a worker released by the end of the scan was admitted")
				}
			}
		})
	}
}

// Cancelling the scan releases every waiting worker.
func TestWindowCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	w := newWindow(ctx, 256)
	defer w.stop()
	var wg sync.WaitGroup
	for id := 64; id < 256; id++ {
		wg.Go(func() {
			if w.admit(id) {
				t.Errorf("worker %d admitted after the cancel", id)
			}
		})
	}
	cancel()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("workers still wait after the scan was cancelled")
	}
}
