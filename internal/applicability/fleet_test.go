package applicability

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/patchday/patchday/internal/inventory"
	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/version"
)

// The realistic fleet: the packages of this machine's dpkg database, padded with synthetic
// libraries to about 1,500 names, on five OS release and architecture profiles; each computer
// has nearly every package, most at the release's current version and some lagging a
// revision or two or an upstream version behind, more so on neglected machines. The updates
// are chains of fixes per package and release, each superseding the previous one, with the
// newest fixes at the versions the fleet actually runs.

// fleetRelease is one OS release of the fleet.
type fleetRelease struct {
	osID, version string
	updateShare   float64 // of the updates
}

var fleetReleases = []fleetRelease{{"debian", "12", 0.60}, {"debian", "11", 0.25}, {"ubuntu", "24.04", 0.15}}

var fleetArches = []string{"amd64", "arm64"}

// fleetProfiles are the computers' (release, architecture) and their share of the fleet.
var fleetProfiles = []struct {
	release, arch int
	share         float64
}{{0, 0, 0.62}, {0, 1, 0.12}, {1, 0, 0.12}, {1, 1, 0.04}, {2, 0, 0.10}}

var fleetLanguages = [][]string{{"en"}, {"en"}, {"en"}, {"en"}, {"en"}, {"de", "de-CH", "en"}, {"de", "de-CH", "en"}, {"en-GB"}, {"fr-CH"}, {"de-DE"}}

// fleetPackage is one package name of the fleet.
type fleetPackage struct {
	name    string
	archAll bool
	// ladder[release] are the versions computers of that release run, ascending: an older
	// upstream, lagging revisions, and the current version last.
	ladder [3][]string
	// ids[release][arch][i] is the package version id of ladder[release][i] on an
	// architecture (only arch 0, "all", for archAll packages).
	ids [3][2][]uint32
}

type fleetGen struct {
	seed     uint64
	packages []fleetPackage
	dict     []pkgVersion // package version id - 1
	// newest[id-1] is the newest package version id of id's package, release and architecture.
	newest  []uint32
	updates []Update
}

// readInstalled returns the packages of this machine's dpkg database, or of the fixture when
// it has none.
func readInstalled(tb testing.TB) []protocol.Package {
	tb.Helper()
	f, err := os.Open("/var/lib/dpkg/status")
	if os.IsNotExist(err) {
		f, err = os.Open("testdata/status")
	}
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	pkgs, err := inventory.ParseDpkgStatus(f)
	if err != nil {
		tb.Fatal(err)
	}
	return pkgs
}

// newFleetGen builds the package universe (names packages in all) and the updates.
func newFleetGen(tb testing.TB, installed []protocol.Package, names, updates int, seed uint64) *fleetGen {
	tb.Helper()
	g := &fleetGen{seed: seed}
	rng := rand.New(rand.NewPCG(seed, 1))
	seen := map[string]bool{}
	type base struct {
		name, version string
		archAll       bool
	}
	var bases []base
	for _, p := range installed {
		if !seen[p.Name] && len(bases) < names {
			if _, err := version.CompareDebian(p.Version, p.Version); err != nil {
				continue
			}
			seen[p.Name] = true
			bases = append(bases, base{p.Name, p.Version, p.Arch == "all"})
		}
	}
	for n := 1; len(bases) < names; n++ {
		word := libWords[rng.IntN(len(libWords))]
		name := "lib" + word + strconv.Itoa(n%97)
		if seen[name] {
			continue
		}
		seen[name] = true
		bases = append(bases, base{name, syntheticVersion(rng), rng.IntN(10) == 0})
	}
	slices.SortFunc(bases, func(a, b base) int { return cmp.Compare(a.name, b.name) })

	for _, b := range bases {
		p := fleetPackage{name: b.name, archAll: b.archAll}
		for r := range fleetReleases {
			p.ladder[r] = ladder(releaseVersion(b.version, r, rng))
			for a := range fleetArches {
				if a > 0 && p.archAll {
					break
				}
				arch := fleetArches[a]
				if p.archAll {
					arch = "all"
				}
				for _, v := range p.ladder[r] {
					g.dict = append(g.dict, pkgVersion{p.name, v, arch})
					p.ids[r][a] = append(p.ids[r][a], uint32(len(g.dict)))
				}
				for range p.ladder[r] {
					g.newest = append(g.newest, uint32(len(g.dict)))
				}
			}
		}
		g.packages = append(g.packages, p)
	}
	g.makeUpdates(rng, updates)
	return g
}

var libWords = []string{"xml", "ssl", "gtk", "jpeg", "png", "ssh", "tls", "bz", "lzma", "ffi", "uuid",
	"crypt", "pcre", "icu", "sqlite", "glib", "cairo", "pango", "harfbuzz", "font", "x11", "xcb",
	"drm", "gl", "pulse", "asound", "udev", "dbus", "pam", "krb", "ldap", "sasl", "gnutls",
	"nettle", "gmp", "mpfr", "idn", "psl", "nghttp", "brotli", "zstd", "archive", "magic",
	"yaml", "json", "event", "uv", "cap", "acl", "attr", "selinux", "seccomp", "apparmor"}

// syntheticVersion returns a Debian version as libraries have them: 2.9.14+dfsg-1.3~deb12u1.
func syntheticVersion(rng *rand.Rand) string {
	v := fmt.Sprintf("%d.%d.%d", rng.IntN(4), rng.IntN(20), rng.IntN(30))
	if rng.IntN(20) == 0 {
		v = "1:" + v
	}
	if rng.IntN(8) == 0 {
		v += "+dfsg"
	}
	v += "-" + strconv.Itoa(1+rng.IntN(6))
	switch rng.IntN(10) {
	case 0, 1, 2:
		v += "+deb12u" + strconv.Itoa(1+rng.IntN(4))
	case 3:
		v += "+b" + strconv.Itoa(1+rng.IntN(3))
	}
	return v
}

var trailingNumber = regexp.MustCompile(`(\+deb\d+u|~deb\d+u|\+b|ubuntu|-)?(\d+)$`)

// olderRevision returns a plausible version just before v: a lower stable update, binNMU,
// Ubuntu or Debian revision ("+deb12u3" to "+deb12u2", "+deb12u1" and "+b1" dropped), or ""
// when v has none.
func olderRevision(v string) string {
	m := trailingNumber.FindStringSubmatchIndex(v)
	if m == nil {
		return ""
	}
	n, _ := strconv.Atoi(v[m[4]:m[5]])
	var out string
	switch {
	case n >= 2:
		out = v[:m[4]] + strconv.Itoa(n-1)
	case m[2] >= 0 && v[m[2]] == '+' || m[2] >= 0 && v[m[2]:m[3]] == "ubuntu":
		out = v[:m[2]]
	default:
		return ""
	}
	if c, err := version.CompareDebian(out, v); err != nil || c >= 0 {
		return ""
	}
	return out
}

// olderUpstream returns v with the last non-zero number of its upstream version lowered and
// the first Debian revision: 3.0.11-1~deb12u2 gives 3.0.10-1.
func olderUpstream(v string) string {
	epoch, rest := "", v
	if i := strings.IndexByte(v, ':'); i >= 0 {
		epoch, rest = v[:i+1], v[i+1:]
	}
	upstream, _, hasRevision := strings.Cut(rest, "-")
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		upstream = rest[:i]
	}
	out := ""
	for end := len(upstream); end > 0 && out == ""; {
		start := end
		for start > 0 && upstream[start-1] >= '0' && upstream[start-1] <= '9' {
			start--
		}
		if start < end {
			if n, _ := strconv.Atoi(upstream[start:end]); n > 0 {
				out = upstream[:start] + strconv.Itoa(n-1) + upstream[end:]
			}
		}
		end = start - 1
		for end > 0 && (upstream[end-1] < '0' || upstream[end-1] > '9') {
			end--
		}
	}
	if out == "" {
		out = upstream + "~pre1"
	}
	out = epoch + out
	if hasRevision {
		out += "-1"
	}
	if c, err := version.CompareDebian(out, v); err != nil || c >= 0 {
		return ""
	}
	return out
}

// releaseVersion is the current version of a package on a release, from the Debian 12 one:
// Debian 11 has an older upstream with its own stable updates, Ubuntu an Ubuntu revision.
func releaseVersion(deb12 string, release int, rng *rand.Rand) string {
	switch release {
	case 1:
		if old := olderUpstream(deb12); old != "" {
			return old + "+deb11u" + strconv.Itoa(1+rng.IntN(5))
		}
		return deb12
	case 2:
		base := deb12
		if m := regexp.MustCompile(`[+~]deb\d+u\d+$`).FindStringIndex(base); m != nil {
			base = base[:m[0]]
		}
		return base + "ubuntu" + strconv.Itoa(1+rng.IntN(6))
	}
	return deb12
}

// ladder returns current's older upstream, the two revisions before it, and current, ascending
// and without gaps where a step has no plausible older version.
func ladder(current string) []string {
	out := []string{current}
	v := current
	for range 2 {
		if v = olderRevision(v); v == "" {
			break
		}
		out = append(out, v)
	}
	if up := olderUpstream(out[len(out)-1]); up != "" {
		out = append(out, up)
	}
	slices.Reverse(out)
	return out
}

// computer returns a computer's facts and installed package versions (ascending), the same
// for the same id and seed: a fleet of 100,000 is generated as it is loaded, not kept.
func (g *fleetGen) computer(id ComputerID) (Facts, []uint32) {
	rng := rand.New(rand.NewPCG(g.seed, uint64(id)+1<<32))
	x := rng.Float64()
	prof := fleetProfiles[len(fleetProfiles)-1]
	for _, p := range fleetProfiles {
		if x < p.share {
			prof = p
			break
		}
		x -= p.share
	}
	rel := fleetReleases[prof.release]
	f := Facts{OSID: rel.osID, OSVersion: rel.version, Arch: fleetArches[prof.arch],
		Languages: fleetLanguages[rng.IntN(len(fleetLanguages))]}
	// Most machines are kept current; some are patched now and then; a few are neglected.
	lag := 0.02
	switch x := rng.IntN(100); {
	case x < 5:
		lag = 0.5
	case x < 20:
		lag = 0.15
	}
	pvs := make([]uint32, 0, len(g.packages))
	for i := range g.packages {
		p := &g.packages[i]
		if rng.IntN(100) < 3 {
			continue
		}
		arch := prof.arch
		if p.archAll {
			arch = 0
		}
		ids := p.ids[prof.release][arch]
		k := len(ids) - 1
		if rng.Float64() < lag {
			switch x := rng.IntN(100); {
			case x < 60:
				k--
			case x < 85:
				k -= 2
			default:
				k = 0
			}
			k = max(k, 0)
		}
		pvs = append(pvs, ids[k])
	}
	return f, pvs
}

// makeUpdates makes n updates: each picks a package (some far more often than others, as the
// kernel and openssl do) and a release; the updates of a package and release form a chain,
// each superseding the one before, whose newest fixes are the versions on the release's
// ladder and whose older ones every computer is past.
func (g *fleetGen) makeUpdates(rng *rand.Rand, n int) {
	order := rng.Perm(len(g.packages))
	type chainKey struct{ pkg, release int }
	chains := map[chainKey][]int64{}
	var keys []chainKey
	for i := range n {
		pkg := order[int(float64(len(order))*math.Pow(rng.Float64(), 1.5))]
		release, x := len(fleetReleases)-1, rng.Float64()
		for r, rel := range fleetReleases {
			if x < rel.updateShare {
				release = r
				break
			}
			x -= rel.updateShare
		}
		k := chainKey{pkg, release}
		if chains[k] == nil {
			keys = append(keys, k)
		}
		chains[k] = append(chains[k], int64(i+1))
	}
	g.updates = make([]Update, n)
	for _, k := range keys {
		p := &g.packages[k.pkg]
		ladder := p.ladder[k.release]
		ids := chains[k]
		// The newest updates fix the ladder's steps above its lowest; the others are older
		// fixes, below anything installed.
		top := min(len(ids), len(ladder)-1)
		for i, id := range ids {
			var fixed string
			if j := i - (len(ids) - top); j >= 0 {
				fixed = ladder[len(ladder)-top+j]
			} else {
				fixed = ladder[0] + "~old" + strconv.Itoa(i+1)
			}
			rel := fleetReleases[k.release]
			u := Update{ID: id, Package: p.name, Namespace: rel.osID,
				Range: version.Range{Scheme: "deb", Constraints: []version.Constraint{{Comparator: version.Less, Version: fixed}}}, OSReleases: []string{rel.osID + ":" + rel.version}}
			if i > 0 {
				u.Supersedes = []int64{ids[i-1]}
			}
			if !p.archAll && rng.IntN(10) == 0 {
				u.Architectures = []string{"amd64"}
			}
			g.updates[id-1] = u
		}
	}
}

// describe gives the index the dictionary and the updates.
func (g *fleetGen) describe(tb testing.TB, ix *Index) {
	tb.Helper()
	for i, p := range g.dict {
		if err := ix.SetPackageVersion(uint32(i+1), p.name, p.version, p.arch); err != nil {
			tb.Fatal(err)
		}
	}
	for _, u := range g.updates {
		if err := ix.SetUpdate(u); err != nil {
			tb.Fatal(err)
		}
	}
}

func (g *fleetGen) loadComputers(ix *Index, n int) {
	for id := range ComputerID(n) {
		f, pvs := g.computer(id)
		ix.SetComputer(id, f, nil, pvs)
	}
}

func TestVersionSteps(t *testing.T) {
	for _, tc := range []struct{ in, revision, upstream string }{
		{"3.0.11-1~deb12u2", "3.0.11-1~deb12u1", "3.0.10-1"},
		{"3.0.11-1~deb12u1", "", "3.0.10-1"},
		{"2.36-9+deb12u1", "2.36-9", "2.35-1"},
		{"5.2.15-2+b8", "5.2.15-2+b7", "5.2.14-1"},
		{"5.2.15-2+b1", "5.2.15-2", "5.2.14-1"},
		{"1.0.8-5", "1.0.8-4", "1.0.7-1"},
		{"3.134", "3.133", "3.133"},
		{"1:2.38.1-5+deb12u3", "1:2.38.1-5+deb12u2", "1:2.38.0-1"},
		{"2024a-0+deb12u1", "2024a-0", "2023a-1"},
		{"20230311", "20230310", "20230310"},
		{"1.0-1ubuntu1", "1.0-1", "0.0-1"},
		{"0.0-1", "", "0.0~pre1-1"},
	} {
		if got := olderRevision(tc.in); got != tc.revision {
			t.Errorf("olderRevision(%q) = %q, want %q", tc.in, got, tc.revision)
		}
		if got := olderUpstream(tc.in); got != tc.upstream {
			t.Errorf("olderUpstream(%q) = %q, want %q", tc.in, got, tc.upstream)
		}
	}
}

// TestFleetGenerator builds a fleet of 1,000 computers and checks that it looks like the one
// the benchmarks promise, and that EvaluateComputer agrees with EvaluateAll on it.
func TestFleetGenerator(t *testing.T) {
	const computers, names, updates = 1000, 1500, 1000
	g := newFleetGen(t, readInstalled(t), names, updates, 1)
	if len(g.packages) != names {
		t.Fatalf("%d packages, want %d", len(g.packages), names)
	}
	for _, p := range g.packages {
		for r, l := range p.ladder {
			for i := 1; i < len(l); i++ {
				if c, err := version.CompareDebian(l[i-1], l[i]); err != nil || c >= 0 {
					t.Fatalf("%s on release %d: ladder %q does not ascend", p.name, r, l)
				}
			}
		}
	}
	// The chains: ascending fixed versions, each superseding the one before.
	for _, u := range g.updates {
		for _, s := range u.Supersedes {
			prev := g.updates[s-1]
			a, _ := prev.Range.UpperBound()
			b, _ := u.Range.UpperBound()
			if c, err := version.CompareDebian(a, b); err != nil || c >= 0 || prev.Package != u.Package {
				t.Fatalf("update %d (%s <%s) supersedes %d (%s <%s)", u.ID, u.Package, b, s, prev.Package, a)
			}
		}
	}

	ix := New()
	g.describe(t, ix)
	g.loadComputers(ix, computers)
	total, lagging, byProfile := 0, 0, map[string]int{}
	for id := range ComputerID(computers) {
		f, pvs := g.computer(id)
		total += len(pvs)
		byProfile[f.OSID+":"+f.OSVersion+" "+f.Arch]++
		for _, pv := range pvs {
			if g.newest[pv-1] != pv {
				lagging++
			}
		}
	}
	if avg := total / computers; avg < 1400 || avg > 1500 {
		t.Errorf("%d packages per computer on average, want about 1,455", avg)
	}
	if share := float64(lagging) / float64(total); share < 0.02 || share > 0.2 {
		t.Errorf("%.1f%% of installed versions lag, want a few percent", 100*share)
	}
	if n := byProfile["debian:12 amd64"]; n < 550 || n > 700 {
		t.Errorf("%d debian:12 amd64 computers of %d, want about 620 (%v)", n, computers, byProfile)
	}
	if len(byProfile) != len(fleetProfiles) {
		t.Errorf("profiles %v", byProfile)
	}

	all := ix.EvaluateAll()
	hit, superseded := 0, 0
	for _, v := range all {
		if !v.Affected.IsEmpty() {
			hit++
		}
		if !v.Superseded.IsEmpty() {
			superseded++
		}
	}
	// The newest update of each chain affects the lagging computers; older ones are
	// superseded on them.
	if hit < updates/10 || superseded < updates/20 {
		t.Errorf("%d of %d updates affect a computer, %d supersede on one: the fleet is too uniform", hit, updates, superseded)
	}
	for id := range ComputerID(computers) {
		f, pvs := g.computer(id)
		per := ix.EvaluateComputer(f, pvs)
		for uid, v := range all {
			want := NotApplicable
			switch {
			case v.Affected.Contains(uint32(id)):
				want = Affected
			case v.Patched.Contains(uint32(id)):
				want = Patched
			case v.Superseded.Contains(uint32(id)):
				want = Superseded
			}
			if per[uid] != want {
				t.Fatalf("computer %d, update %d: EvaluateComputer %v, EvaluateAll %v", id, uid, per[uid], want)
			}
		}
	}
	t.Logf("%d computers, %d package versions, %d updates: %d affect a computer, %d supersede on one; profiles %v",
		computers, len(g.dict), updates, hit, superseded, byProfile)
}
