package applicability

import (
	"fmt"
	"slices"
)

// rule is an update as the index evaluates it.
type rule struct {
	Update
	langs []string // Languages, normalized
	// matches are the versions of the package that the rule's architecture filter lets
	// through, ascending by id, each with its range check done once.
	matches []match
}

// match is one package version of a rule's package.
type match struct {
	id       uint32
	pv       *packageVersion
	affected bool // the version is in the range
	// byComputerArch is set for a package of architecture "all" (or none given) while the
	// rule names architectures: such a package fits any machine, so the computer's own
	// architecture decides.
	byComputerArch bool
}

// classify checks a version of the rule's package against its architectures and range.
//
// The architecture filter applies to the installed package, not to the computer, because of
// multiarch: an amd64 computer may have libc6:amd64 and libc6:i386, an i386 update fixes the
// second, and an amd64 update must not count the second as affected.
func (r *rule) classify(id uint32, pv *packageVersion) (match, bool) {
	m := match{id: id, pv: pv}
	if len(r.Architectures) > 0 && !slices.Contains(r.Architectures, pv.arch) {
		if pv.arch != "all" && pv.arch != "" {
			return match{}, false
		}
		m.byComputerArch = true
	}
	in, err := r.Range.DebianContains(pv.version)
	if err != nil {
		return match{}, false // both versions were checked when they came in: not reached
	}
	m.affected = in
	return m, true
}

func (r *rule) addVersion(id uint32, pv *packageVersion) {
	m, ok := r.classify(id, pv)
	if !ok {
		return
	}
	i, found := r.find(id)
	if found {
		r.matches[i] = m
		return
	}
	r.matches = slices.Insert(r.matches, i, m)
}

func (r *rule) removeVersion(id uint32) {
	if i, found := r.find(id); found {
		r.matches = slices.Delete(r.matches, i, i+1)
	}
}

func (r *rule) find(id uint32) (int, bool) {
	return slices.BinarySearchFunc(r.matches, id, func(m match, id uint32) int {
		switch {
		case m.id < id:
			return -1
		case m.id > id:
			return 1
		}
		return 0
	})
}

// SetUpdate adds an update's rule or replaces it. Only deb ranges are evaluated: other
// schemes give an error, and such updates stay the caller's to judge. An update without a
// range applies to every version: Range{Scheme: "deb", All: true}.
func (ix *Index) SetUpdate(u Update) error {
	if u.Range.Scheme != "deb" {
		return fmt.Errorf("applicability: update %d: versioning scheme %q is not evaluated, only deb", u.ID, u.Range.Scheme)
	}
	if u.Package == "" {
		return fmt.Errorf("applicability: update %d names no package", u.ID)
	}
	if err := u.Range.CheckDebianOrder(); err != nil {
		return fmt.Errorf("applicability: update %d: %w", u.ID, err)
	}
	// The caller may reuse its slices.
	u.Range.Constraints = slices.Clone(u.Range.Constraints)
	u.OSReleases = slices.Clone(u.OSReleases)
	u.Architectures = slices.Clone(u.Architectures)
	u.Languages = slices.Clone(u.Languages)
	u.Supersedes = slices.Clone(u.Supersedes)
	u.Prerequisites = slices.Clone(u.Prerequisites)
	r := &rule{Update: u}
	for _, l := range u.Languages {
		r.langs = append(r.langs, normalizeLanguage(l))
	}

	ix.mu.Lock()
	defer ix.mu.Unlock()
	if old := ix.updates[u.ID]; old != nil {
		ix.unlinkUpdate(old)
	}
	p := ix.packageEntry(u.Package)
	p.updates = insertSorted(p.updates, u.ID)
	for _, id := range p.versions {
		r.addVersion(id, ix.versions[id])
	}
	for _, b := range u.Supersedes {
		if b != u.ID {
			ix.supersededBy[b] = insertSorted(ix.supersededBy[b], u.ID)
		}
	}
	ix.updates[u.ID] = r
	delete(ix.cache, u.ID)
	return nil
}

// RemoveUpdate removes an update's rule; the updates it superseded are offered again where
// nothing else supersedes them.
func (ix *Index) RemoveUpdate(id int64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if r := ix.updates[id]; r != nil {
		ix.unlinkUpdate(r)
		delete(ix.updates, id)
		delete(ix.cache, id)
	}
}

func (ix *Index) unlinkUpdate(r *rule) {
	p := ix.packages[r.Package]
	p.updates = removeSorted(p.updates, r.ID)
	ix.dropPackageIfUnused(r.Package)
	for _, b := range r.Supersedes {
		if s := removeSorted(ix.supersededBy[b], r.ID); len(s) > 0 {
			ix.supersededBy[b] = s
		} else {
			delete(ix.supersededBy, b)
		}
	}
}

// Superseded returns the updates that id supersedes, directly or through others, ascending.
// Their verdicts depend on id's: evaluate them again after SetUpdate(id), and ask before
// RemoveUpdate(id) (or before replacing id's rule with other Supersedes) which they were.
func (ix *Index) Superseded(id int64) []int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	down := reach(id, func(x int64) []int64 {
		if r := ix.updates[x]; r != nil {
			return r.Supersedes
		}
		return nil
	})
	delete(down, id)
	out := make([]int64, 0, len(down))
	for b := range down {
		if _, ok := ix.updates[b]; ok {
			out = append(out, b)
		}
	}
	slices.Sort(out)
	return out
}

// superseders returns the updates that supersede id directly or through others, ascending.
// Updates in a supersedence cycle with id are left out: a cycle is a catalog mistake, and
// letting its members hide each other would leave an affected machine with nothing to install.
// Supersedence through an update the index does not hold is not followed.
func (ix *Index) superseders(id int64) []int64 {
	if len(ix.supersededBy[id]) == 0 {
		return nil // the newest of its chain, as most updates that affect a computer are
	}
	up := reach(id, func(x int64) []int64 { return ix.supersededBy[x] })
	if len(up) == 0 {
		return nil
	}
	down := reach(id, func(x int64) []int64 {
		if r := ix.updates[x]; r != nil {
			return r.Supersedes
		}
		return nil
	})
	out := make([]int64, 0, len(up))
	for a := range up {
		if !down[a] {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// reach returns the nodes reachable from start by next, visiting each once so that a cycle
// ends the walk; start is in it only when a cycle leads back to it.
func reach(start int64, next func(int64) []int64) map[int64]bool {
	seen := map[int64]bool{}
	queue := []int64{start}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		for _, y := range next(x) {
			if !seen[y] {
				seen[y] = true
				queue = append(queue, y)
			}
		}
	}
	return seen
}
