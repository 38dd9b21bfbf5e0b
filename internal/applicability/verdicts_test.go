package applicability

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/patchday/patchday/internal/version"
)

// testFleet is a small fleet built from readable descriptions, with what the index does not
// keep (each computer's facts and package list), to check Evaluate against EvaluateComputer.
type testFleet struct {
	ix    *Index
	dict  map[string]uint32 // "name version arch" -> package version id
	facts map[ComputerID]Facts
	pvs   map[ComputerID][]uint32
}

func newTestFleet() *testFleet {
	return &testFleet{ix: New(), dict: map[string]uint32{}, facts: map[ComputerID]Facts{}, pvs: map[ComputerID][]uint32{}}
}

// host is a computer in a test: facts as "debian:12 amd64 de-CH,en" and packages as
// "name=version:arch".
type host struct {
	id    ComputerID
	facts string
	pkgs  []string
}

func parseFacts(t *testing.T, s string) Facts {
	t.Helper()
	fields := strings.Fields(s)
	if len(fields) < 2 {
		t.Fatalf("facts %q: want \"osid:version arch [langs]\"", s)
	}
	osid, ver, _ := strings.Cut(fields[0], ":")
	f := Facts{OSID: osid, OSVersion: ver, Arch: fields[1]}
	if len(fields) > 2 {
		f.Languages = strings.Split(fields[2], ",")
	}
	return f
}

// ids returns the package version ids of "name=version:arch" entries, describing new ones to
// the index.
func (tf *testFleet) ids(t *testing.T, pkgs []string) []uint32 {
	t.Helper()
	var out []uint32
	for _, p := range pkgs {
		name, rest, ok1 := strings.Cut(p, "=")
		ver, arch, ok2 := strings.Cut(rest, ":")
		if i := strings.LastIndex(rest, ":"); i >= 0 {
			ver, arch = rest[:i], rest[i+1:] // the version may have an epoch
		}
		if !ok1 || !ok2 {
			t.Fatalf("package %q: want name=version:arch", p)
		}
		key := name + " " + ver + " " + arch
		id, ok := tf.dict[key]
		if !ok {
			id = uint32(len(tf.dict) + 1)
			tf.dict[key] = id
			if err := tf.ix.SetPackageVersion(id, name, ver, arch); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func (tf *testFleet) set(t *testing.T, h host) {
	t.Helper()
	f := parseFacts(t, h.facts)
	pvs := tf.ids(t, h.pkgs)
	tf.ix.SetComputer(h.id, f, tf.pvs[h.id], pvs)
	tf.facts[h.id], tf.pvs[h.id] = f, pvs
}

func (tf *testFleet) remove(id ComputerID) {
	tf.ix.RemoveComputer(id, tf.pvs[id])
	delete(tf.facts, id)
	delete(tf.pvs, id)
}

func mustRange(t *testing.T, s string) version.Range {
	t.Helper()
	r, err := version.ParseRange(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// verdictsString renders Evaluate's answer as "A:1,2 P:3 S:4", leaving out empty sets.
func verdictsString(v Verdicts) string {
	var parts []string
	for _, s := range []struct {
		tag string
		bm  interface{ ToArray() []uint32 }
	}{{"A", v.Affected}, {"P", v.Patched}, {"S", v.Superseded}} {
		ids := s.bm.ToArray()
		if len(ids) == 0 {
			continue
		}
		var n []string
		for _, id := range ids {
			n = append(n, strconv.Itoa(int(id)))
		}
		parts = append(parts, s.tag+":"+strings.Join(n, ","))
	}
	return strings.Join(parts, " ")
}

// check compares Evaluate with want ("A:1,2 P:3 S:4" per update) and EvaluateComputer with
// Evaluate for every computer of the fleet.
func (tf *testFleet) check(t *testing.T, want map[int64]string) {
	t.Helper()
	fleet := map[int64]Verdicts{}
	for id, w := range want {
		v, err := tf.ix.Evaluate(id)
		if err != nil {
			t.Errorf("update %d: %v", id, err)
			continue
		}
		if got := verdictsString(v); got != w {
			t.Errorf("update %d: %q, want %q", id, got, w)
		}
		fleet[id] = v
	}
	for c, f := range tf.facts {
		per := tf.ix.EvaluateComputer(f, tf.pvs[c])
		for id, v := range fleet {
			want := NotApplicable
			switch {
			case v.Affected.Contains(uint32(c)):
				want = Affected
			case v.Patched.Contains(uint32(c)):
				want = Patched
			case v.Superseded.Contains(uint32(c)):
				want = Superseded
			}
			if per[id] != want {
				t.Errorf("computer %d, update %d: EvaluateComputer %v, Evaluate %v", c, id, per[id], want)
			}
		}
	}
}

func TestVerdicts(t *testing.T) {
	const (
		old = "openssl=3.0.11-1~deb12u1:amd64"
		fix = "openssl=3.0.11-1~deb12u2:amd64"
	)
	opensslFix := "vers:deb/<3.0.11-1~deb12u2"
	for _, tc := range []struct {
		name    string
		hosts   []host
		updates []Update
		want    map[int64]string
	}{{
		name: "in range, out of range, not installed",
		hosts: []host{
			{1, "debian:12 amd64", []string{old, "bash=5.2.15-2+b7:amd64"}},
			{2, "debian:12 amd64", []string{fix}},
			{3, "debian:12 amd64", []string{"openssl=3.0.15-1~deb12u1:amd64"}},
			{4, "debian:12 amd64", []string{"bash=5.2.15-2+b7:amd64"}},
			{5, "debian:12 amd64", []string{"openssl=1:0.9-1:amd64"}}, // the epoch wins
		},
		updates: []Update{{ID: 1, Package: "openssl", Range: mustRange(t, opensslFix)}},
		want:    map[int64]string{1: "A:1 P:2,3,5"},
	}, {
		name: "architecture filter, and packages of architecture all",
		hosts: []host{
			{1, "debian:12 amd64", []string{"curl=7.88.1-10:amd64", "tzdata=2024a-0:all"}},
			{2, "debian:12 arm64", []string{"curl=7.88.1-10:arm64", "tzdata=2024a-0:all"}},
			{3, "debian:12 arm64", []string{"curl=7.88.1-11:arm64", "tzdata=2025a-0:all"}},
		},
		updates: []Update{
			{ID: 1, Package: "curl", Range: mustRange(t, "vers:deb/<7.88.1-11"), Architectures: []string{"arm64"}},
			{ID: 2, Package: "tzdata", Range: mustRange(t, "vers:deb/<2025a-0"), Architectures: []string{"arm64"}},
			{ID: 3, Package: "tzdata", Range: mustRange(t, "vers:deb/<2025a-0")},
		},
		want: map[int64]string{1: "A:2 P:3", 2: "A:2 P:3", 3: "A:1,2 P:3"},
	}, {
		name: "multiarch: either architecture in range makes the computer affected",
		hosts: []host{
			{1, "debian:12 amd64", []string{"libc6=2.36-9+deb12u9:amd64", "libc6=2.36-9+deb12u4:i386"}},
			{2, "debian:12 amd64", []string{"libc6=2.36-9+deb12u4:amd64", "libc6=2.36-9+deb12u9:i386"}},
			{3, "debian:12 amd64", []string{"libc6=2.36-9+deb12u9:amd64", "libc6=2.36-9+deb12u9:i386"}},
			{4, "debian:12 amd64", []string{"libc6=2.36-9+deb12u4:amd64"}},
		},
		updates: []Update{
			{ID: 1, Package: "libc6", Range: mustRange(t, "vers:deb/<2.36-9+deb12u9")},
			{ID: 2, Package: "libc6", Range: mustRange(t, "vers:deb/<2.36-9+deb12u9"), Architectures: []string{"amd64"}},
			{ID: 3, Package: "libc6", Range: mustRange(t, "vers:deb/<2.36-9+deb12u9"), Architectures: []string{"i386"}},
		},
		want: map[int64]string{1: "A:1,2,4 P:3", 2: "A:2,4 P:1,3", 3: "A:1 P:2,3"},
	}, {
		name: "OS release filter and namespace",
		hosts: []host{
			{1, "debian:12 amd64", []string{old}},
			{2, "debian:11 amd64", []string{old}},
			{3, "ubuntu:24.04 amd64", []string{old}},
			{4, "debian:12 amd64", []string{fix}},
		},
		updates: []Update{
			{ID: 1, Package: "openssl", Range: mustRange(t, opensslFix), OSReleases: []string{"debian:12"}},
			{ID: 2, Package: "openssl", Range: mustRange(t, opensslFix), Namespace: "debian"},
			{ID: 3, Package: "openssl", Range: mustRange(t, opensslFix), Namespace: "ubuntu"},
			{ID: 4, Package: "openssl", Range: mustRange(t, opensslFix), OSReleases: []string{"debian:11", "ubuntu:24.04"}},
			{ID: 5, Package: "openssl", Range: mustRange(t, opensslFix), Namespace: "debian", OSReleases: []string{"ubuntu:24.04"}},
		},
		want: map[int64]string{1: "A:1 P:4", 2: "A:1,2 P:4", 3: "A:3", 4: "A:2,3", 5: ""},
	}, {
		name: "languages: de finds de-CH, de-CH does not find de",
		hosts: []host{
			{1, "debian:12 amd64 de-CH,en", []string{old}},
			{2, "debian:12 amd64 de", []string{old}},
			{3, "debian:12 amd64 en-GB", []string{old}},
			{4, "debian:12 amd64", []string{old}},
			{5, "debian:12 amd64 sr-Latn-RS", []string{fix}},
		},
		updates: []Update{
			{ID: 1, Package: "openssl", Range: mustRange(t, opensslFix), Languages: []string{"de"}},
			{ID: 2, Package: "openssl", Range: mustRange(t, opensslFix), Languages: []string{"de-CH"}},
			{ID: 3, Package: "openssl", Range: mustRange(t, opensslFix), Languages: []string{"DE_ch", "fr"}},
			{ID: 4, Package: "openssl", Range: mustRange(t, opensslFix), Languages: []string{"en"}},
			{ID: 5, Package: "openssl", Range: mustRange(t, opensslFix), Languages: []string{"sr-Latn"}},
		},
		want: map[int64]string{1: "A:1,2", 2: "A:1", 3: "A:1", 4: "A:1,3", 5: "P:5"},
	}, {
		name: "every version affected: nobody is patched",
		hosts: []host{
			{1, "debian:12 amd64", []string{old}},
			{2, "debian:12 amd64", []string{fix}},
			{3, "debian:12 amd64", nil},
		},
		updates: []Update{{ID: 1, Package: "openssl", Range: version.Range{Scheme: "deb", All: true}}},
		want:    map[int64]string{1: "A:1,2"},
	}, {
		// C < B < A: A supersedes B, B supersedes C. Computer 1 is behind all three, 2 is
		// past C, 3 past B, 4 past A, 5 has no openssl.
		name: "supersedence chain",
		hosts: []host{
			{1, "debian:12 amd64", []string{"openssl=3.0.9-1:amd64"}},
			{2, "debian:12 amd64", []string{"openssl=3.0.11-1~deb12u1:amd64"}},
			{3, "debian:12 amd64", []string{"openssl=3.0.11-1~deb12u2:amd64"}},
			{4, "debian:12 amd64", []string{"openssl=3.0.11-1~deb12u3:amd64"}},
			{5, "debian:12 amd64", nil},
		},
		updates: []Update{
			{ID: 10, Package: "openssl", Range: mustRange(t, "vers:deb/<3.0.11-1~deb12u3"), Supersedes: []int64{20}},
			{ID: 20, Package: "openssl", Range: mustRange(t, "vers:deb/<3.0.11-1~deb12u2"), Supersedes: []int64{30}},
			{ID: 30, Package: "openssl", Range: mustRange(t, "vers:deb/<3.0.11-1~deb12u1")},
		},
		want: map[int64]string{10: "A:1,2,3 P:4", 20: "P:3,4 S:1,2", 30: "P:2,3,4 S:1"},
	}, {
		// B applies to debian:11 only; A supersedes B supersedes C, so on debian:12 A still
		// hides C.
		name: "supersedence through an update that does not apply",
		hosts: []host{
			{1, "debian:12 amd64", []string{"openssl=3.0.9-1:amd64"}},
			{2, "debian:11 amd64", []string{"openssl=3.0.9-1:amd64"}},
		},
		updates: []Update{
			{ID: 10, Package: "openssl", Range: mustRange(t, "vers:deb/<3.0.11-1~deb12u3"), OSReleases: []string{"debian:12"}, Supersedes: []int64{20}},
			{ID: 20, Package: "openssl", Range: mustRange(t, "vers:deb/<3.0.11-1~deb12u2"), OSReleases: []string{"debian:11"}, Supersedes: []int64{30}},
			{ID: 30, Package: "openssl", Range: mustRange(t, "vers:deb/<3.0.11-1~deb12u1")},
		},
		want: map[int64]string{10: "A:1", 20: "A:2", 30: "S:1,2"},
	}, {
		// X and Y supersede each other by mistake: both stay offered. Z supersedes X from
		// outside the cycle, and so hides X and, through X, Y where it is affected.
		name: "supersedence cycle",
		hosts: []host{
			{1, "debian:12 amd64", []string{"openssl=3.0.9-1:amd64", "zlib1g=1.2.13-1:amd64"}},
			{2, "debian:12 amd64", []string{"openssl=3.0.9-1:amd64", "zlib1g=1.3-1:amd64"}},
		},
		updates: []Update{
			{ID: 1, Package: "openssl", Range: mustRange(t, "vers:deb/<3.0.11-1~deb12u3"), Supersedes: []int64{2, 1}},
			{ID: 2, Package: "openssl", Range: mustRange(t, "vers:deb/<3.0.11-1~deb12u2"), Supersedes: []int64{1}},
			{ID: 3, Package: "zlib1g", Range: mustRange(t, "vers:deb/<1.3-1"), Supersedes: []int64{1}},
		},
		want: map[int64]string{1: "A:2 S:1", 2: "A:2 S:1", 3: "A:1 P:2"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			tf := newTestFleet()
			for _, h := range tc.hosts {
				tf.set(t, h)
			}
			for _, u := range tc.updates {
				if err := tf.ix.SetUpdate(u); err != nil {
					t.Fatal(err)
				}
			}
			tf.check(t, tc.want)
		})
	}
}

// TestChanges changes the fleet and the updates step by step: upgrades, removals, re-adding,
// facts changes, and a caller passing the wrong old package list.
func TestChanges(t *testing.T) {
	tf := newTestFleet()
	old := []string{"openssl=3.0.11-1~deb12u1:amd64", "bash=5.2.15-2+b7:amd64"}
	fixed := []string{"openssl=3.0.11-1~deb12u2:amd64", "bash=5.2.15-2+b7:amd64"}
	tf.set(t, host{1, "debian:12 amd64", old})
	tf.set(t, host{2, "debian:12 amd64", old})
	tf.set(t, host{3, "debian:11 amd64", old})
	a := Update{ID: 1, Package: "openssl", Range: mustRange(t, "vers:deb/<3.0.11-1~deb12u2"), OSReleases: []string{"debian:12"}}
	b := Update{ID: 2, Package: "openssl", Range: mustRange(t, "vers:deb/<3.0.11-1~deb12u3"), Supersedes: []int64{1}}
	for _, u := range []Update{a, b} {
		if err := tf.ix.SetUpdate(u); err != nil {
			t.Fatal(err)
		}
	}
	tf.check(t, map[int64]string{1: "S:1,2", 2: "A:1,2,3"})

	steps := []struct {
		name string
		do   func()
		want map[int64]string
	}{
		{"update 2 removed: 1 is offered again", func() { tf.ix.RemoveUpdate(2) }, map[int64]string{1: "A:1,2"}},
		{"computer 1 upgraded", func() { tf.set(t, host{1, "debian:12 amd64", fixed}) }, map[int64]string{1: "A:2 P:1"}},
		{"computer 2 removed", func() { tf.remove(2) }, map[int64]string{1: "P:1"}},
		{"computer 2 back", func() { tf.set(t, host{2, "debian:12 amd64", old}) }, map[int64]string{1: "A:2 P:1"}},
		{"computer 3 moves to debian 12", func() { tf.set(t, host{3, "debian:12 amd64", old}) }, map[int64]string{1: "A:2,3 P:1"}},
		{"computer 2 loses openssl", func() { tf.set(t, host{2, "debian:12 amd64", old[1:]}) }, map[int64]string{1: "A:3 P:1"}},
		{"update 2 back", func() {
			if err := tf.ix.SetUpdate(b); err != nil {
				t.Fatal(err)
			}
		}, map[int64]string{1: "P:1 S:3", 2: "A:1,3"}},
		{"update 1 replaced by an older range", func() {
			a2 := a
			a2.Range = mustRange(t, "vers:deb/<3.0.11-1~deb12u1")
			if err := tf.ix.SetUpdate(a2); err != nil {
				t.Fatal(err)
			}
		}, map[int64]string{1: "P:1,3", 2: "A:1,3"}},
		{"a dictionary entry described after the computer named it", func() {
			tf.ix.SetComputer(4, Facts{OSID: "debian", OSVersion: "12", Arch: "amd64"}, nil, []uint32{1000})
			tf.facts[4], tf.pvs[4] = Facts{OSID: "debian", OSVersion: "12", Arch: "amd64"}, []uint32{1000}
			if err := tf.ix.SetPackageVersion(1000, "openssl", "3.0.9-1", "amd64"); err != nil {
				t.Fatal(err)
			}
		}, map[int64]string{1: "P:1,3 S:4", 2: "A:1,3,4"}},
	}
	for _, s := range steps {
		s.do()
		t.Run(s.name, func(t *testing.T) { tf.check(t, s.want) })
	}
	if n := tf.ix.Stats().Resyncs; n != 0 {
		t.Errorf("%d resyncs with the right old lists", n)
	}

	// The caller loses track of computer 3's packages: the index repairs itself.
	tf.ix.SetComputer(3, tf.facts[3], tf.ids(t, fixed), tf.ids(t, fixed))
	tf.pvs[3] = tf.ids(t, fixed)
	t.Run("wrong old list", func(t *testing.T) { tf.check(t, map[int64]string{1: "P:1,3 S:4", 2: "A:1,3,4"}) })
	if n := tf.ix.Stats().Resyncs; n != 1 {
		t.Errorf("%d resyncs, want 1", n)
	}
	tf.ix.RemoveComputer(3, nil)
	delete(tf.facts, 3)
	delete(tf.pvs, 3)
	t.Run("removed with a wrong list", func(t *testing.T) { tf.check(t, map[int64]string{1: "P:1 S:4", 2: "A:1,4"}) })
	if s := tf.ix.Stats(); s.Computers != 3 || s.Updates != 2 || s.Resyncs != 2 {
		t.Errorf("stats %+v, want 3 computers, 2 updates, 2 resyncs", s)
	}
}

func TestRejected(t *testing.T) {
	ix := New()
	for _, u := range []Update{
		{ID: 1, Package: "left-pad", Range: mustRange(t, "vers:npm/<1.3.0")},
		{ID: 2, Range: mustRange(t, "vers:deb/<1.0")},
		{ID: 3, Package: "openssl", Range: mustRange(t, "vers:deb/>=3.0|<2.0")},
		{ID: 4, Package: "openssl"},
	} {
		if err := ix.SetUpdate(u); err == nil {
			t.Errorf("update %d accepted", u.ID)
		}
	}
	if _, err := ix.Evaluate(1); err != ErrUnknownUpdate {
		t.Errorf("Evaluate of a rejected update: %v", err)
	}
	// An invalid version is kept out of evaluation.
	if err := ix.SetPackageVersion(1, "openssl", "not a version!", "amd64"); err == nil {
		t.Error("invalid version accepted")
	}
	ix.SetComputer(1, Facts{OSID: "debian", OSVersion: "12", Arch: "amd64"}, nil, []uint32{1})
	if err := ix.SetUpdate(Update{ID: 5, Package: "openssl", Range: mustRange(t, "vers:deb/<3.0")}); err != nil {
		t.Fatal(err)
	}
	v, err := ix.Evaluate(5)
	if got := verdictsString(v); err != nil || got != "" {
		t.Errorf("update over an invalid version: %q, %v", got, err)
	}
	// Described properly later, it counts.
	if err := ix.SetPackageVersion(1, "openssl", "1.1.1-1", "amd64"); err != nil {
		t.Fatal(err)
	}
	v, err = ix.Evaluate(5)
	if got := verdictsString(v); err != nil || got != "A:1" {
		t.Errorf("after the fix: %q, %v", got, err)
	}
}

func TestUpdateAndSuperseded(t *testing.T) {
	ix := New()
	u := Update{ID: 7, Package: "openssl", Range: mustRange(t, "vers:deb/<3.0"), Supersedes: []int64{3}, Prerequisites: []int64{5, 6}}
	if err := ix.SetUpdate(u); err != nil {
		t.Fatal(err)
	}
	u.Prerequisites[0] = 99 // the index keeps its own copy
	got, ok := ix.Update(7)
	if !ok || fmt.Sprint(got.Prerequisites) != "[5 6]" || fmt.Sprint(got.Supersedes) != "[3]" {
		t.Errorf("Update(7) = %+v, %v", got, ok)
	}
	if _, ok := ix.Update(8); ok {
		t.Error("Update(8) found")
	}
	// 7 supersedes 3, 3 supersedes 2 and 7 (a cycle), 2 supersedes 1, which is not in the index.
	for _, u := range []Update{{ID: 3, Supersedes: []int64{2, 7}}, {ID: 2, Supersedes: []int64{1}}} {
		u.Package, u.Range = "openssl", mustRange(t, "vers:deb/<3.0")
		if err := ix.SetUpdate(u); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(ix.Superseded(7)); got != "[2 3]" {
		t.Errorf("Superseded(7) = %s, want [2 3]", got)
	}
	if got := fmt.Sprint(ix.Superseded(2)); got != "[]" {
		t.Errorf("Superseded(2) = %s, want []", got)
	}
}
