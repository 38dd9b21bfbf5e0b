package applicability

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentReaders evaluates from several goroutines while a writer keeps upgrading and
// downgrading computers and replacing an update; run it with -race. Every computer always
// has openssl, so each evaluation must find each computer exactly once, affected or patched.
func TestConcurrentReaders(t *testing.T) {
	const computers = 200
	ix := New()
	const oldPV, newPV = 1, 2
	if err := ix.SetPackageVersion(oldPV, "openssl", "3.0.11-1~deb12u1", "amd64"); err != nil {
		t.Fatal(err)
	}
	if err := ix.SetPackageVersion(newPV, "openssl", "3.0.11-1~deb12u2", "amd64"); err != nil {
		t.Fatal(err)
	}
	f := Facts{OSID: "debian", OSVersion: "12", Arch: "amd64", Languages: []string{"en"}}
	for c := range ComputerID(computers) {
		ix.SetComputer(c, f, nil, []uint32{oldPV})
	}
	u := Update{ID: 1, Package: "openssl", Range: mustRange(t, "vers:deb/<3.0.11-1~deb12u2")}
	if err := ix.SetUpdate(u); err != nil {
		t.Fatal(err)
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	var evaluations atomic.Int64
	for r := range 4 {
		wg.Go(func() {
			for !stop.Load() {
				var v Verdicts
				if r == 0 {
					v = ix.EvaluateAll()[1]
				} else {
					var err error
					if v, err = ix.Evaluate(1); err != nil {
						t.Error(err)
						return
					}
				}
				if n := v.Affected.GetCardinality() + v.Patched.GetCardinality(); n != computers || v.Affected.Intersects(v.Patched) {
					t.Errorf("%d affected, %d patched of %d computers", v.Affected.GetCardinality(), v.Patched.GetCardinality(), computers)
					return
				}
				if got := ix.EvaluateComputer(f, []uint32{oldPV}); got[1] != Affected {
					t.Errorf("EvaluateComputer: %v", got)
					return
				}
				evaluations.Add(1)
			}
		})
	}
	// The writer: each computer moves to the fixed version and back, and the update's rule
	// is replaced now and then (the same rule, so the invariant holds).
	state := make([]uint32, computers)
	for i := range state {
		state[i] = oldPV
	}
	// Until the readers have had their turns, and at most for a while.
	for i := 0; i < 3000 || evaluations.Load() < 100 && i < 1_000_000; i++ {
		c := ComputerID(i % computers)
		next := uint32(oldPV + newPV - state[c])
		ix.SetComputer(c, f, []uint32{state[c]}, []uint32{next})
		state[c] = next
		if i%500 == 0 {
			if err := ix.SetUpdate(u); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	if evaluations.Load() == 0 {
		t.Error("no evaluation ran")
	}
	v, err := ix.Evaluate(1)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, s := range state {
		if s == oldPV {
			want++
		}
	}
	if got := int(v.Affected.GetCardinality()); got != want {
		t.Errorf("%d affected at the end, want %d", got, want)
	}
}
