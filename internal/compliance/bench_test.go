package compliance

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/catalog"
	"github.com/patchday/patchday/internal/inventory"
	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/store"
)

// benchEnv reads an integer setting of the benchmark from the environment.
func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkFleet measures applicability end to end on SQLite: the full evaluation at start
// (reading every inventory from the database, evaluating every update, storing every state),
// one new update evaluated over the fleet and stored, and the question "which machines are
// vulnerable to advisory X" answered from the database.
//
// The fleet: PATCHDAY_BENCH_COMPUTERS computers (default 10,000; scripts/bench-fleet.sh
// runs 100,000) with about 1,500 packages each, this machine's dpkg status padded with
// synthetic libraries; 2% of each machine's packages lag one version behind. The catalog:
// PATCHDAY_BENCH_UPDATES updates (default 10,000): one per package fixing the current
// version (so the laggards need it) and the rest historical, which every machine is past,
// each superseding the package's previous one.
func BenchmarkFleet(b *testing.B) {
	n := benchEnv("PATCHDAY_BENCH_COMPUTERS", 10000)
	nUpdates := benchEnv("PATCHDAY_BENCH_UPDATES", 10000)
	ctx := context.Background()
	st, err := store.Open(ctx, "", b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()

	// Packages: the real ones, padded to 1,500.
	f, err := os.Open("/var/lib/dpkg/status")
	if err != nil {
		b.Skip("needs /var/lib/dpkg/status")
	}
	real, err := inventory.ParseDpkgStatus(f)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	pkgs := real
	for i := 0; len(pkgs) < 1500; i++ {
		pkgs = append(pkgs, protocol.Package{Name: fmt.Sprintf("libbench%d", i), Version: fmt.Sprintf("%d.%d.%d-%d", i%7+1, i%11, i%5, i%3+1), Arch: "amd64"})
	}
	var org store.Org
	csafDoc, err := os.ReadFile("../server/testdata/minimal-csaf.json")
	if err != nil {
		b.Fatal(err)
	}
	advisory, err := catalog.ValidateAdvisory(csafDoc)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	cur := make([]uint32, len(pkgs))
	old := make([]uint32, len(pkgs))
	err = st.Update(ctx, func(tx *store.Tx) error {
		var err error
		if org, err = tx.CreateOrg(ctx, "bench", "Bench"); err != nil {
			return err
		}
		if _, err := catalog.ImportAdvisory(ctx, tx, org.ID, advisory, "bench"); err != nil {
			return err
		}
		var pvs []store.PackageVersion
		for _, p := range pkgs {
			pvs = append(pvs, store.PackageVersion{Name: p.Name, Version: p.Version, Arch: p.Arch},
				store.PackageVersion{Name: p.Name, Version: p.Version + "~old1", Arch: p.Arch})
		}
		ids, _, err := tx.PackageVersionIDs(ctx, pvs, func(store.PackageVersion) (uint32, bool) { return 0, false })
		for i := range pkgs {
			cur[i], old[i] = ids[2*i], ids[2*i+1]
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	blob, _ := EncodeInventory(&protocol.Inventory{Hostname: "placeholder"})
	rng := rand.New(rand.NewPCG(1, 2))
	for done := 0; done < n; {
		err := st.Update(ctx, func(tx *store.Tx) error {
			for k := 0; k < 1000 && done < n; k++ {
				host := fmt.Sprintf("host-%06d", done)
				facts := store.ComputerFacts{Hostname: host, MachineID: host, OSID: "debian", OSVersion: "12", Arch: "amd64"}
				c, err := tx.EnrollComputer(ctx, org.ID, facts, "cred-"+host, 0, "")
				if err != nil {
					return err
				}
				ids := make([]uint32, len(pkgs))
				for i := range pkgs {
					ids[i] = cur[i]
					if rng.IntN(50) == 0 {
						ids[i] = old[i]
					}
				}
				hash := "bench-" + host
				if err := tx.SaveInventory(ctx, hash, blob, len(ids)); err != nil {
					return err
				}
				if err := tx.SetInventoryPVs(ctx, hash, sortedIDs(ids)); err != nil {
					return err
				}
				if err := tx.SetComputerInventory(ctx, c.ID, hash, facts); err != nil {
					return err
				}
				done++
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	// Updates: historical ones first (every machine is past them), then the current fix of
	// each package, each superseding the package's previous update.
	last := map[string]string{}
	made := 0
	mk := func(tx *store.Tx, p protocol.Package, fixed, name string, advisories ...string) error {
		d := catalog.UpdateDef{Name: name, Title: name, Classification: "security", Severity: "high", Advisories: advisories,
			Applicability: catalog.Applicability{PURL: "pkg:deb/debian/" + p.Name, Vers: "vers:deb/<" + fixed},
			Installer:     catalog.Installer{Type: "apt"}}
		if prev, ok := last[p.Name]; ok {
			d.Supersedes = []string{prev}
		}
		if _, err := catalog.CreateUpdate(ctx, tx, org.ID, d, "bench"); err != nil {
			return err
		}
		last[p.Name] = name
		made++
		return nil
	}
	historical := max(0, nUpdates-len(pkgs))
	err = st.Update(ctx, func(tx *store.Tx) error {
		for i := 0; i < historical; i++ {
			p := pkgs[i%len(pkgs)]
			if err := mk(tx, p, p.Version+"~old0~h"+strconv.Itoa(historical-i), fmt.Sprintf("hist-%d", i)); err != nil {
				return err
			}
		}
		for i, p := range pkgs {
			if made >= nUpdates {
				break
			}
			if err := mk(tx, p, p.Version, fmt.Sprintf("fix-%d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("fleet of %d computers and %d updates stored in %v", n, made, time.Since(start).Round(time.Second))

	round := 0
	for b.Loop() {
		round++
		runtime.GC()
		ev := NewEvaluator(st, nil)
		peak := watchHeap()
		t0 := time.Now()
		if err := ev.Load(ctx); err != nil {
			b.Fatal(err)
		}
		full := time.Since(t0)
		heap := peak()
		b.ReportMetric(full.Seconds(), "s/full-evaluation")
		b.ReportMetric(float64(heap)/(1<<20), "MB-peak-heap")

		// A new update over the whole fleet: a fix of a package every machine has.
		p := pkgs[round]
		name := fmt.Sprintf("new-fix-%d", round)
		t0 = time.Now()
		if err := st.Update(ctx, func(tx *store.Tx) error { return mk(tx, p, p.Version+"+fix1", name, "EXAMPLE-2026-0001") }); err != nil {
			b.Fatal(err)
		}
		if err := ev.UpdateAdded(ctx); err != nil {
			b.Fatal(err)
		}
		newUpdate := time.Since(t0)
		b.ReportMetric(newUpdate.Seconds(), "s/new-update")

		// Which machines are vulnerable to it, from the database.
		u, err := st.UpdateByName(ctx, org.ID, name)
		if err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		vulnerable, err := st.UpdateStates(ctx, u.ID)
		if err != nil {
			b.Fatal(err)
		}
		query := time.Since(t0)
		b.ReportMetric(query.Seconds()*1000, "ms/which-machines")

		// The advisory report as the API answers it: the counts of all machines, and the
		// first page of 50 of them.
		a, err := st.AdvisoryByTrackingID(ctx, org.ID, "EXAMPLE-2026-0001")
		if err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		rep, err := ForAdvisory(ctx, st, org.ID, a, store.Page{Limit: 50}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		report := time.Since(t0)
		t1 := time.Now()
		if _, err := st.AdvisoryStatusCounts(ctx, a.ID); err != nil {
			b.Fatal(err)
		}
		counts := time.Since(t1)
		b.Logf("of which the counts: %v", counts.Round(time.Millisecond))
		b.ReportMetric(report.Seconds()*1000, "ms/advisory-report")
		b.Logf("advisory report: %v for %d affected (%d listed)", report.Round(time.Millisecond), rep.Affected, len(rep.Computers))
		b.Logf("full evaluation %v (peak heap %d MB); new update %v; which machines: %v for %d machines",
			full.Round(time.Millisecond), heap>>20, newUpdate.Round(time.Millisecond), query.Round(time.Millisecond), len(vulnerable))
	}
}

func sortedIDs(ids []uint32) []uint32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// watchHeap samples the heap in use until stopped and returns the highest figure.
func watchHeap() func() uint64 {
	done := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var m runtime.MemStats
		var top uint64
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&m)
			top = max(top, m.HeapInuse)
			select {
			case <-done:
				peak <- top
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); return <-peak }
}
