package applicability

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/version"
)

// The aims: evaluating every update against the fleet in under 60 s, one new update in under
// 2 s, "which machines are affected by X" in under 100 ms. Run:
//
//	go test -run '^$' -bench . -benchtime 1x ./internal/applicability/
const (
	benchComputers = 100_000
	benchNames     = 1_550 // 97% installed per computer: about 1,500 each
	benchUpdates   = 10_000
)

// heapInuse returns the heap in use after a collection, in bytes.
func heapInuse() (inuse, sys uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.Sys
}

// peakHeap samples HeapInuse until stop is called, and returns the highest value seen.
func peakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

func (ix *Index) dropCache() {
	ix.mu.Lock()
	clear(ix.cache)
	ix.mu.Unlock()
}

func BenchmarkFleet100k(b *testing.B) {
	if testing.Short() {
		b.Skip("100,000 computers: not in -short mode")
	}
	g := newFleetGen(b, readInstalled(b), benchNames, benchUpdates, 1)
	installed, lagging := 0, 0
	for id := range ComputerID(1000) {
		_, pvs := g.computer(id * 100)
		installed += len(pvs)
		for _, pv := range pvs {
			if g.newest[pv-1] != pv {
				lagging++
			}
		}
	}
	b.Logf("fleet: %d computers, %d package names (%d installed per computer on average, %.1f%% of them lagging), %d package versions, %d updates",
		benchComputers, len(g.packages), installed/1000, 100*float64(lagging)/float64(installed), len(g.dict), len(g.updates))
	var ix *Index

	b.Run("load", func(b *testing.B) {
		for range b.N {
			ix = nil
			before, _ := heapInuse()
			ix = New()
			g.describe(b, ix)
			// Computers are generated in batches, outside the timing of AddComputers.
			const batch = 2000
			cs := make([]Computer, batch)
			var load, gen time.Duration
			for first := 0; first < benchComputers; first += batch {
				t0 := time.Now()
				for i := range cs {
					cs[i].ID = ComputerID(first + i)
					cs[i].Facts, cs[i].PVs = g.computer(cs[i].ID)
				}
				t1 := time.Now()
				ix.AddComputers(cs)
				gen += t1.Sub(t0)
				load += time.Since(t1)
			}
			cs = nil
			after, sys := heapInuse()
			st := ix.Stats()
			b.ReportMetric(load.Seconds(), "s-load")
			b.ReportMetric(gen.Seconds(), "s-generate")
			b.ReportMetric(float64(after-before)/1e6, "MB-index")
			b.ReportMetric(float64(after-before)/benchComputers, "B/computer")
			b.ReportMetric(float64(st.BitmapBytes)/1e6, "MB-bitmaps")
			b.ReportMetric(float64(sys)/1e6, "MB-sys")
			b.Logf("index: %+v; heap in use %.0f MB, sys %.0f MB", st, float64(after)/1e6, float64(sys)/1e6)
		}
	})
	if ix == nil {
		b.Skip("load did not run")
	}

	// Loading with SetComputer, one computer at a time: 10,000 computers into a new index.
	b.Run("load-setcomputer", func(b *testing.B) {
		const n = 10_000
		cs := make([]Computer, n)
		for i := range cs {
			cs[i].ID = ComputerID(i)
			cs[i].Facts, cs[i].PVs = g.computer(cs[i].ID)
		}
		b.ResetTimer()
		for range b.N {
			ix := New()
			for _, c := range cs {
				ix.SetComputer(c.ID, c.Facts, nil, c.PVs)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/computer")
	})

	var results map[int64]Verdicts
	b.Run("evaluate-all", func(b *testing.B) {
		for range b.N {
			results = nil
			ix.dropCache()
			before, _ := heapInuse()
			stop := peakHeap()
			start := time.Now()
			results = ix.EvaluateAll()
			elapsed := time.Since(start)
			peak := stop()
			after, sys := heapInuse()
			var affected, patched, superseded uint64
			for _, v := range results {
				affected += v.Affected.GetCardinality()
				patched += v.Patched.GetCardinality()
				superseded += v.Superseded.GetCardinality()
			}
			b.ReportMetric(elapsed.Seconds(), "s-evaluate")
			b.ReportMetric(float64(after-before)/1e6, "MB-results+cache")
			b.ReportMetric(float64(peak)/1e6, "MB-peak-heap")
			b.ReportMetric(float64(sys)/1e6, "MB-sys")
			b.Logf("%d updates on GOMAXPROCS=%d: %d affected, %d patched, %d superseded (computer, update) pairs; heap %.0f MB after",
				len(results), runtime.GOMAXPROCS(0), affected, patched, superseded, float64(after)/1e6)
		}
	})
	if results == nil {
		b.Skip("evaluate-all did not run")
	}

	// X: the update that affects the most computers.
	var x int64
	var most uint64
	for id, v := range results {
		if n := v.Affected.GetCardinality(); n > most || n == most && id < x {
			x, most = id, n
		}
	}
	results = nil

	b.Run("new-update", func(b *testing.B) {
		// Today's fix for the package with the most Debian 12 updates: every Debian 12
		// computer with the package is affected by it, and it supersedes the chain.
		count := map[string]int{}
		head := map[string]int64{}
		for _, u := range g.updates {
			if u.OSReleases[0] == "debian:12" {
				count[u.Package]++
				head[u.Package] = max(head[u.Package], u.ID)
			}
		}
		pkg := ""
		for p, n := range count {
			if n > count[pkg] || n == count[pkg] && p < pkg {
				pkg = p
			}
		}
		fixed, _ := g.updates[head[pkg]-1].Range.UpperBound()
		u := Update{Package: pkg, Namespace: "debian", OSReleases: []string{"debian:12"}, Supersedes: []int64{head[pkg]},
			Range: version.Range{Scheme: "deb", Constraints: []version.Constraint{{Comparator: version.Less, Version: fixed + "+fix1"}}}}
		var chain time.Duration
		for i := range b.N {
			u.ID = int64(1_000_000 + i)
			if err := ix.SetUpdate(u); err != nil {
				b.Fatal(err)
			}
			v, err := ix.Evaluate(u.ID)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			// The updates it supersedes change verdicts too: the caller evaluates them again.
			start := time.Now()
			for _, id := range ix.Superseded(u.ID) {
				if _, err := ix.Evaluate(id); err != nil {
					b.Fatal(err)
				}
			}
			chain += time.Since(start)
			b.ReportMetric(float64(v.Affected.GetCardinality()), "affected")
			b.ReportMetric(float64(len(ix.Superseded(u.ID))), "superseded-updates")
			ix.RemoveUpdate(u.ID)
			b.StartTimer()
		}
		b.ReportMetric(float64(chain.Milliseconds())/float64(b.N), "ms-reevaluate-chain")
		b.Logf("new update for %s <%s+fix1, superseding %d", pkg, fixed, head[pkg])
	})

	const queries = 100
	b.Run("query-warm", func(b *testing.B) {
		if _, err := ix.Evaluate(x); err != nil { // fills the cache
			b.Fatal(err)
		}
		b.ResetTimer()
		var n int
		for range b.N {
			for range queries {
				v, err := ix.Evaluate(x)
				if err != nil {
					b.Fatal(err)
				}
				n = 0
				for it := v.Affected.Iterator(); it.HasNext(); it.Next() {
					n++
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N*queries), "ms/query")
		b.ReportMetric(float64(n), "affected")
	})
	b.Run("query-cold", func(b *testing.B) {
		var total time.Duration
		for range b.N {
			for range queries {
				ix.dropCache() // as after a change to the fleet
				start := time.Now()
				if _, err := ix.Evaluate(x); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
			}
		}
		b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N*queries), "ms/query")
	})

	// A check-in: one computer judged against every update of its packages.
	b.Run("evaluate-computer", func(b *testing.B) {
		const n = 100
		facts := make([]Facts, n)
		pvs := make([][]uint32, n)
		for i := range n {
			facts[i], pvs[i] = g.computer(ComputerID(i * 997))
		}
		b.ResetTimer()
		for range b.N {
			for i := range n {
				ix.EvaluateComputer(facts[i], pvs[i])
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/computer")
	})

	// An inventory change: up to ten lagging packages upgraded on each of 1,000 computers, and
	// back.
	b.Run("replace-computer", func(b *testing.B) {
		const n = 1000
		type change struct {
			id       ComputerID
			f        Facts
			old, new []uint32
		}
		changes := make([]change, n)
		rng := rand.New(rand.NewPCG(9, 9))
		for i, k := range rng.Perm(benchComputers)[:n] {
			id := ComputerID(k)
			f, old := g.computer(id)
			new := slices.Clone(old)
			var lagging []int
			for k, pv := range new {
				if g.newest[pv-1] != pv {
					lagging = append(lagging, k)
				}
			}
			rng.Shuffle(len(lagging), func(i, j int) { lagging[i], lagging[j] = lagging[j], lagging[i] })
			for _, k := range lagging[:min(10, len(lagging))] {
				new[k] = g.newest[new[k]-1]
			}
			changes[i] = change{id, f, old, new}
		}
		b.ResetTimer()
		for i := range b.N {
			for _, c := range changes {
				if i%2 == 0 {
					ix.SetComputer(c.id, c.f, c.old, c.new)
				} else {
					ix.SetComputer(c.id, c.f, c.new, c.old)
				}
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/computer")
		if b.N%2 == 1 { // leave the fleet as generated
			for _, c := range changes {
				ix.SetComputer(c.id, c.f, c.new, c.old)
			}
		}
		if r := ix.Stats().Resyncs; r != 0 {
			b.Errorf("%d resyncs", r)
		}
	})
}

// BenchmarkCompareDebian compares versions of the fleet: pairs of versions of one package, as
// the range checks do. Each op compares 4,096 pairs, so that -benchtime 1x measures something;
// ns/compare is the figure.
func BenchmarkCompareDebian(b *testing.B) {
	g := newFleetGen(b, readInstalled(b), benchNames, 0, 1)
	rng := rand.New(rand.NewPCG(3, 3))
	pairs := make([][2]string, 4096)
	for i := range pairs {
		p := g.packages[rng.IntN(len(g.packages))]
		l := p.ladder[rng.IntN(len(p.ladder))]
		pairs[i] = [2]string{l[rng.IntN(len(l))], l[rng.IntN(len(l))]}
	}
	for _, p := range pairs { // warm up: a single op is what -benchtime 1x measures
		version.CompareDebian(p[0], p[1])
	}
	b.ResetTimer()
	for range b.N {
		for _, p := range pairs {
			if _, err := version.CompareDebian(p[0], p[1]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pairs)), "ns/compare")
}
