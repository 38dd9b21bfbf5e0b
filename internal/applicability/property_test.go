package applicability

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/patchday/patchday/internal/version"
)

// randomWorld is a random fleet and random updates, with what a naive evaluation needs.
type randomWorld struct {
	rng     *rand.Rand
	ix      *Index
	dict    []pkgVersion // by package version id - 1
	facts   map[ComputerID]Facts
	pvs     map[ComputerID][]uint32
	updates map[int64]Update
}

type pkgVersion struct{ name, version, arch string }

var (
	randNames    = []string{"openssl", "libc6", "tzdata", "curl", "zlib1g"}
	randVersions = []string{"1.0-1", "1.0-1~deb12u1", "1.0-1~deb12u2", "1.0-2", "1.0.1-1", "1:0.5-1", "2.0~rc1-1", "2.0-1", "0.9+dfsg-3", "1.0-1+b1"}
	randArches   = []string{"amd64", "arm64", "i386", "all"}
	randReleases = []string{"debian:12", "debian:11", "ubuntu:24.04", "ubuntu:22.04"}
	randLangs    = []string{"de", "de-CH", "en", "en-GB", "fr-CH", "sr-Latn-RS"}
)

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// subset returns each element of s with probability p.
func subset[T any](rng *rand.Rand, s []T, p float64) []T {
	var out []T
	for _, v := range s {
		if rng.Float64() < p {
			out = append(out, v)
		}
	}
	return out
}

func newRandomWorld(t *testing.T, seed uint64) *randomWorld {
	w := &randomWorld{rng: rand.New(rand.NewPCG(seed, 7)), ix: New(), facts: map[ComputerID]Facts{},
		pvs: map[ComputerID][]uint32{}, updates: map[int64]Update{}}
	for _, n := range randNames {
		for _, v := range randVersions {
			for _, a := range randArches {
				w.dict = append(w.dict, pkgVersion{n, v, a})
				if err := w.ix.SetPackageVersion(uint32(len(w.dict)), n, v, a); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return w
}

func (w *randomWorld) randomComputer(id ComputerID) {
	f, pvs := w.randomInventory()
	w.ix.SetComputer(id, f, w.pvs[id], pvs)
	w.facts[id], w.pvs[id] = f, pvs
}

// addComputers adds or replaces computers with AddComputers, ids possibly repeated.
func (w *randomWorld) addComputers(ids []ComputerID) {
	var batch []Computer
	for _, id := range ids {
		f, pvs := w.randomInventory()
		batch = append(batch, Computer{ID: id, Facts: f, PVs: pvs})
		w.facts[id], w.pvs[id] = f, sortedSet(pvs)
	}
	w.ix.AddComputers(batch)
}

func (w *randomWorld) randomInventory() (Facts, []uint32) {
	rel := pick(w.rng, randReleases)
	osid, ver, _ := strings.Cut(rel, ":")
	f := Facts{OSID: osid, OSVersion: ver, Arch: pick(w.rng, randArches[:3]), Languages: subset(w.rng, randLangs, 0.25)}
	var pvs []uint32
	for range w.rng.IntN(6) {
		pvs = append(pvs, uint32(1+w.rng.IntN(len(w.dict))))
	}
	return f, pvs
}

func (w *randomWorld) randomUpdate(t *testing.T, id int64, maxID int64) {
	vs := slices.Clone(randVersions)
	slices.SortFunc(vs, func(a, b string) int { c, _ := version.CompareDebian(a, b); return c })
	i := w.rng.IntN(len(vs) - 1)
	j := i + 1 + w.rng.IntN(len(vs)-1-i)
	spec := pick(w.rng, []string{"<" + vs[j], "<=" + vs[i], ">=" + vs[i] + "|<" + vs[j], ">" + vs[i], vs[i], "!=" + vs[i], "*", vs[i] + "|" + vs[j]})
	rng, err := version.ParseRange("vers:deb/" + spec)
	if err != nil {
		t.Fatal(err)
	}
	u := Update{ID: id, Package: pick(w.rng, randNames), Range: rng,
		OSReleases: subset(w.rng, randReleases, 0.2), Architectures: subset(w.rng, randArches, 0.2),
		Languages: subset(w.rng, randLangs, 0.1)}
	if w.rng.IntN(5) == 0 {
		u.Namespace = pick(w.rng, []string{"debian", "ubuntu"})
	}
	for range w.rng.IntN(3) {
		u.Supersedes = append(u.Supersedes, 1+w.rng.Int64N(maxID))
	}
	if err := w.ix.SetUpdate(u); err != nil {
		t.Fatal(err)
	}
	w.updates[id] = u
}

// naiveRaw judges one computer against one update by looping over its packages with
// DebianContains, before supersedence.
func (w *randomWorld) naiveRaw(t *testing.T, c ComputerID, u Update) Verdict {
	f := w.facts[c]
	if u.Namespace != "" && f.OSID != u.Namespace {
		return NotApplicable
	}
	if len(u.OSReleases) > 0 && !slices.Contains(u.OSReleases, f.OSID+":"+f.OSVersion) {
		return NotApplicable
	}
	if len(u.Languages) > 0 && !slices.ContainsFunc(u.Languages, func(want string) bool {
		want = strings.ToLower(want)
		return slices.ContainsFunc(f.Languages, func(have string) bool {
			have = strings.ToLower(have)
			return have == want || strings.HasPrefix(have, want+"-")
		})
	}) {
		return NotApplicable
	}
	v := NotApplicable
	for _, id := range w.pvs[c] {
		p := w.dict[id-1]
		if p.name != u.Package {
			continue
		}
		if len(u.Architectures) > 0 && !slices.Contains(u.Architectures, p.arch) &&
			!(p.arch == "all" && slices.Contains(u.Architectures, f.Arch)) {
			continue
		}
		in, err := u.Range.DebianContains(p.version)
		if err != nil {
			t.Fatal(err)
		}
		if in {
			return Affected
		}
		v = Patched
	}
	return v
}

// naiveSupersedes[a][b]: a supersedes b through a path of Supersedes, and b does not
// supersede a (a cycle).
func (w *randomWorld) naiveSupersedes() map[int64]map[int64]bool {
	reach := map[int64]map[int64]bool{}
	for id := range w.updates {
		seen := map[int64]bool{}
		var walk func(int64)
		walk = func(x int64) {
			u, ok := w.updates[x]
			if !ok {
				return
			}
			for _, y := range u.Supersedes {
				if !seen[y] {
					seen[y] = true
					walk(y)
				}
			}
		}
		walk(id)
		reach[id] = seen
	}
	out := map[int64]map[int64]bool{}
	for a, bs := range reach {
		out[a] = map[int64]bool{}
		for b := range bs {
			if !reach[b][a] {
				out[a][b] = true
			}
		}
	}
	return out
}

// check compares Evaluate, EvaluateAll and EvaluateComputer with the naive evaluation, and
// the index's bitmaps with the fleet.
func (w *randomWorld) check(t *testing.T) {
	t.Helper()
	want := map[uint32][]uint32{}
	for c, pvs := range w.pvs {
		for _, pv := range sortedSet(pvs) {
			want[pv] = append(want[pv], uint32(c))
		}
	}
	for id, pv := range w.ix.versions {
		slices.Sort(want[id])
		if got := pv.computers.ToArray(); !slices.Equal(got, want[id]) {
			t.Fatalf("package version %d: computers %v, want %v", id, got, want[id])
		}
	}
	if n := w.ix.facts.all.GetCardinality(); n != uint64(len(w.facts)) || len(w.ix.computers) != len(w.facts) {
		t.Fatalf("%d computers in the facts, %d in the index, want %d", n, len(w.ix.computers), len(w.facts))
	}
	sup := w.naiveSupersedes()
	all := w.ix.EvaluateAll()
	if len(all) != len(w.updates) {
		t.Fatalf("EvaluateAll: %d updates, want %d", len(all), len(w.updates))
	}
	perComputer := map[ComputerID]map[int64]Verdict{}
	for c := range w.facts {
		perComputer[c] = w.ix.EvaluateComputer(w.facts[c], w.pvs[c])
	}
	bad := 0
	for id, u := range w.updates {
		one, err := w.ix.Evaluate(id)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := verdictsString(one), verdictsString(all[id]); a != b {
			t.Errorf("update %d: Evaluate %s, EvaluateAll %s", id, a, b)
		}
		for c := range w.facts {
			want := w.naiveRaw(t, c, u)
			if want == Affected {
				for a := range sup {
					if sup[a][id] && w.naiveRaw(t, c, w.updates[a]) == Affected {
						want = Superseded
						break
					}
				}
			}
			got := NotApplicable
			switch {
			case one.Affected.Contains(uint32(c)):
				got = Affected
			case one.Patched.Contains(uint32(c)):
				got = Patched
			case one.Superseded.Contains(uint32(c)):
				got = Superseded
			}
			if got != want || perComputer[c][id] != want {
				if bad++; bad <= 10 {
					t.Errorf("computer %d %+v %v, update %+v: Evaluate %v, EvaluateComputer %v, naive %v",
						c, w.facts[c], w.describe(w.pvs[c]), u, got, perComputer[c][id], want)
				}
			}
		}
	}
	for c, m := range perComputer {
		for id, v := range m {
			if v == NotApplicable {
				t.Errorf("computer %d: EvaluateComputer lists update %d as not applicable", c, id)
			}
		}
	}
}

func (w *randomWorld) describe(pvs []uint32) string {
	var s []string
	for _, id := range pvs {
		p := w.dict[id-1]
		s = append(s, fmt.Sprintf("%s=%s:%s", p.name, p.version, p.arch))
	}
	return strings.Join(s, " ")
}

// TestAgainstNaive evaluates random fleets and updates, then changes them at random (replaced
// and removed computers and updates), comparing with a naive per-computer loop each time.
func TestAgainstNaive(t *testing.T) {
	const computers, updates = 300, 40
	for seed := range uint64(5) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			w := newRandomWorld(t, seed)
			// Half by AddComputers, half by SetComputer.
			var batch []ComputerID
			for c := range ComputerID(computers) {
				if c%2 == 0 {
					batch = append(batch, c)
				} else {
					w.randomComputer(c)
				}
			}
			w.addComputers(batch)
			for id := range int64(updates) {
				w.randomUpdate(t, id+1, updates)
			}
			w.check(t)
			for range 3 {
				for range 40 {
					c := ComputerID(w.rng.IntN(computers + 20))
					if _, ok := w.facts[c]; ok && w.rng.IntN(4) == 0 {
						w.ix.RemoveComputer(c, w.pvs[c])
						delete(w.facts, c)
						delete(w.pvs, c)
					} else {
						w.randomComputer(c)
					}
				}
				// A batch with known computers and new ones, some of both repeated.
				var batch []ComputerID
				for range 10 {
					batch = append(batch, ComputerID(w.rng.IntN(computers)), ComputerID(computers+100+w.rng.IntN(8)))
				}
				w.addComputers(batch)
				for range 5 {
					id := 1 + w.rng.Int64N(updates+5)
					if _, ok := w.updates[id]; ok && w.rng.IntN(3) == 0 {
						w.ix.RemoveUpdate(id)
						delete(w.updates, id)
					} else {
						w.randomUpdate(t, id, updates+5)
					}
				}
				w.check(t)
			}
		})
	}
}
