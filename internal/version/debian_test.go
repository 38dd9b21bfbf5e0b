package version

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestCompareDebianTable(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0", "1.1", -1},
		{"1:1.0", "2.0", 1},
		{"1.0~rc1", "1.0", -1},
		{"1.0~~", "1.0~", -1},
		{"1.0-1", "1.0-1~deb12u1", 1},
		{"3.0.11-1~deb12u2", "3.0.11-1~deb12u1", 1},
		{"1.0a", "1.0", 1},
		{"1.0+b1", "1.0", 1},
		{"0:1.0", "1.0", 0},
		{"1.10", "1.9", 1},
		{"1.0-1", "1.0-01", 0},
	} {
		got, err := CompareDebian(tc.a, tc.b)
		if err != nil || got != tc.want {
			t.Errorf("CompareDebian(%q, %q) = %d, %v; want %d", tc.a, tc.b, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "a:1.0"} {
		if _, err := CompareDebian(bad, "1.0"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestCompareDebianAgainstDpkg compares CompareDebian with the real dpkg --compare-versions
// on 10,000 pairs: versions of this machine's package database and generated ones with
// epochs, tildes, revisions, letters and digits.
func TestCompareDebianAgainstDpkg(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dpkg is needed")
		}
		t.Skip("dpkg is not installed")
	}
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}\n").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	installed := map[string]bool{}
	for _, v := range strings.Fields(string(out)) {
		installed[v] = true
	}
	var real []string
	for v := range installed {
		real = append(real, v)
	}
	sort.Strings(real)
	if len(real) < 50 {
		t.Fatalf("only %d versions in the package database", len(real))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	gen := func() string {
		var b strings.Builder
		if rng.IntN(5) == 0 {
			b.WriteString(strconv.Itoa(rng.IntN(3)) + ":")
		}
		parts := 1 + rng.IntN(3)
		for i := range parts {
			if i > 0 {
				b.WriteString([]string{".", ".", "+", "~"}[rng.IntN(4)])
			}
			b.WriteString(strconv.Itoa(rng.IntN(12)))
			if rng.IntN(4) == 0 {
				b.WriteString([]string{"a", "b", "rc", "~rc1", "~", "+dfsg", "z"}[rng.IntN(7)])
			}
		}
		if rng.IntN(2) == 0 {
			b.WriteString("-" + strconv.Itoa(rng.IntN(4)))
			if rng.IntN(3) == 0 {
				b.WriteString([]string{"~deb12u1", "~deb12u2", "+b1", "ubuntu1", "~bpo1"}[rng.IntN(5)])
			}
		}
		return b.String()
	}
	pick := func() string {
		if rng.IntN(2) == 0 {
			return real[rng.IntN(len(real))]
		}
		return gen()
	}
	const n = 10000
	pairs := make([][2]string, n)
	for i := range pairs {
		pairs[i] = [2]string{pick(), pick()}
		if rng.IntN(10) == 0 {
			pairs[i][1] = pairs[i][0] // equal versions too
		}
	}
	want := dpkgCompare(t, pairs)
	bad := 0
	for i, p := range pairs {
		got, err := CompareDebian(p[0], p[1])
		if err != nil || got != want[i] {
			bad++
			if bad <= 10 {
				t.Errorf("%q vs %q: CompareDebian %d (%v), dpkg %d", p[0], p[1], got, err, want[i])
			}
		}
	}
	t.Logf("%d pairs (%d versions from the package database): %d disagree with dpkg", n, len(real), bad)
}

// dpkgCompare asks dpkg --compare-versions about each pair, in two shell loops at once.
func dpkgCompare(t *testing.T, pairs [][2]string) []int {
	t.Helper()
	out := make([]int, len(pairs))
	const workers = 2
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var in strings.Builder
			var idx []int
			for i := w; i < len(pairs); i += workers {
				fmt.Fprintf(&in, "%s %s\n", pairs[i][0], pairs[i][1])
				idx = append(idx, i)
			}
			cmd := exec.Command("sh", "-c", `while read a b; do
				if dpkg --compare-versions "$a" lt "$b"; then echo -1
				elif dpkg --compare-versions "$a" eq "$b"; then echo 0
				else echo 1; fi
			done`)
			cmd.Stdin = strings.NewReader(in.String())
			res, err := cmd.Output()
			if err != nil {
				errs <- err
				return
			}
			sc := bufio.NewScanner(strings.NewReader(string(res)))
			for k := 0; sc.Scan(); k++ {
				out[idx[k]], _ = strconv.Atoi(sc.Text())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("dpkg: %v", err)
	}
	return out
}
