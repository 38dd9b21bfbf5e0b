package applicability

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"
)

// Evaluate returns the computers of the fleet per verdict for one update, after supersedence.
func (ix *Index) Evaluate(updateID int64) (Verdicts, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	r := ix.updates[updateID]
	if r == nil {
		return Verdicts{}, ErrUnknownUpdate
	}
	return ix.verdicts(r), nil
}

// EvaluateAll evaluates every update, on GOMAXPROCS goroutines. Changes wait until it is done.
func (ix *Index) EvaluateAll() map[int64]Verdicts {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	rules := make([]*rule, 0, len(ix.updates))
	for _, r := range ix.updates {
		rules = append(rules, r)
	}
	// First every update's affected computers, which the supersedence step reads across
	// updates, then the verdicts.
	parallel(len(rules), func(i int) { ix.affected(rules[i]) })
	out := make([]Verdicts, len(rules))
	parallel(len(rules), func(i int) { out[i] = ix.verdicts(rules[i]) })
	m := make(map[int64]Verdicts, len(rules))
	for i, r := range rules {
		m[r.ID] = out[i]
	}
	return m
}

// verdicts evaluates r; the caller holds mu.RLock.
func (ix *Index) verdicts(r *rule) Verdicts {
	raw := ix.affected(r)
	v := Verdicts{Affected: raw.Clone(), Superseded: roaring.New()}
	if !raw.IsEmpty() {
		if sup := ix.supersedingAffected(r.ID); sup != nil {
			v.Superseded = roaring.And(raw, sup)
			v.Affected.AndNot(sup)
		}
	}
	v.Patched = ix.computersWith(r, false)
	v.Patched.AndNot(raw)
	return v
}

// supersedingAffected is the computers affected by an update that supersedes id, or nil when
// nothing supersedes it.
func (ix *Index) supersedingAffected(id int64) *roaring.Bitmap {
	ids := ix.superseders(id)
	if len(ids) == 0 {
		return nil
	}
	bms := make([]*roaring.Bitmap, len(ids))
	for i, a := range ids {
		bms[i] = ix.affected(ix.updates[a])
	}
	return roaring.FastOr(bms...)
}

// affected returns the computers affected by r before supersedence, from the cache or
// computed and cached. The bitmap is shared: do not modify it.
func (ix *Index) affected(r *rule) *roaring.Bitmap {
	ix.cacheMu.Lock()
	bm, ok := ix.cache[r.ID]
	ix.cacheMu.Unlock()
	if ok {
		return bm
	}
	bm = ix.computersWith(r, true)
	ix.cacheMu.Lock()
	ix.cache[r.ID] = bm
	ix.cacheMu.Unlock()
	return bm
}

// computersWith returns the computers that have a version of r's package inside r's range
// (inRange) or outside it, within r's architecture and facts filters.
func (ix *Index) computersWith(r *rule, inRange bool) *roaring.Bitmap {
	var plain, byArch []*roaring.Bitmap
	for _, m := range r.matches {
		if m.affected != inRange || m.pv.computers.IsEmpty() {
			continue
		}
		if m.byComputerArch {
			byArch = append(byArch, m.pv.computers)
		} else {
			plain = append(plain, m.pv.computers)
		}
	}
	out := roaring.FastOr(plain...)
	if len(byArch) > 0 {
		x := roaring.FastOr(byArch...)
		x.And(union(ix.facts.byArch, r.Architectures))
		out.Or(x)
	}
	if out.IsEmpty() {
		return out
	}
	if f := ix.facts.filter(r); f != nil {
		out.And(f)
	}
	return out
}

// dropPackage forgets the cached results of the updates of a package. Writers call it holding
// mu, so no reader uses the cache meanwhile and cacheMu is not needed.
func (ix *Index) dropPackage(name string) {
	if p := ix.packages[name]; p != nil {
		for _, id := range p.updates {
			delete(ix.cache, id)
		}
	}
}

// parallel calls f(0) ... f(n-1) on GOMAXPROCS goroutines.
func parallel(n int, f func(int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}
