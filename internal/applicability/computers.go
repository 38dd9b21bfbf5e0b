package applicability

import "slices"

// computer is what the index keeps per computer: about 40 bytes with the map's overhead. Its
// package list stays with the caller; the digest catches a caller that passes another list
// than the one the index was given.
type computer struct {
	facts  uint32 // the number of its fact set
	digest uint64 // of its package versions
}

// SetComputer adds a computer or replaces its facts and installed package versions.
//
// old must be the list the index was last given for this computer (nil for a new one): the
// index applies the difference between old and new, so an upgrade of five packages costs ten
// bitmap operations. When old is not that list (its digest differs), the index repairs itself
// by removing the computer from every package version, which is slower (see Stats.Resyncs).
// The lists are package version ids; they need not be sorted.
func (ix *Index) SetComputer(id ComputerID, f Facts, old, new []uint32) {
	old, new = sortedSet(old), sortedSet(new)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.setComputer(id, f, old, new)
}

func (ix *Index) setComputer(id ComputerID, f Facts, old, new []uint32) {
	set := ix.facts.intern(f)
	c, known := ix.computers[id]
	switch {
	case !known:
		old = nil
		ix.facts.add(id, set)
	case c.digest != digest(old):
		ix.sweep(id)
		old = nil
	}
	if known && c.facts != set {
		ix.facts.remove(id, c.facts)
		ix.facts.add(id, set)
		// Every update of its packages may judge it differently now.
		ix.dropVersions(old)
		ix.dropVersions(new)
	}
	ix.applyDiff(id, old, new)
	ix.computers[id] = computer{facts: set, digest: digest(new)}
}

// Computer is a computer to add with AddComputers.
type Computer struct {
	ID    ComputerID
	Facts Facts
	PVs   []uint32 // its package version ids
}

// AddComputers adds computers in bulk, as when the server loads its fleet at start: several
// times faster than SetComputer one by one, because it fills each package version's bitmap in
// one go (in parallel) rather than touching 1,500 bitmaps per computer. Batches of a few
// thousand computers, in ascending id order, work best. A computer already in the index is
// replaced as by SetComputer with an unknown old list (a sweep; see Stats.Resyncs).
func (ix *Index) AddComputers(cs []Computer) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	// Each package version collects the new computers that have it, then adds them at once.
	var touched []*packageVersion
	flush := func() {
		parallel(len(touched), func(i int) {
			pv := touched[i]
			pv.computers.AddMany(pv.pending)
			pv.pending = nil
		})
		for _, pv := range touched {
			ix.dropVersion(pv)
		}
		touched = touched[:0]
	}
	for _, c := range cs {
		pvs := sortedSet(c.PVs)
		if _, known := ix.computers[c.ID]; known {
			flush()
			ix.setComputer(c.ID, c.Facts, nil, pvs)
			continue
		}
		set := ix.facts.intern(c.Facts)
		ix.facts.add(c.ID, set)
		for _, id := range pvs {
			pv := ix.version(id)
			if len(pv.pending) == 0 {
				touched = append(touched, pv)
			}
			pv.pending = append(pv.pending, uint32(c.ID))
		}
		ix.computers[c.ID] = computer{facts: set, digest: digest(pvs)}
	}
	flush()
}

// RemoveComputer removes a computer; pvs is the package list the index was last given for it
// (a wrong one is repaired as in SetComputer).
func (ix *Index) RemoveComputer(id ComputerID, pvs []uint32) {
	pvs = sortedSet(pvs)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	c, known := ix.computers[id]
	if !known {
		return
	}
	if c.digest != digest(pvs) {
		ix.sweep(id)
	} else {
		ix.applyDiff(id, pvs, nil)
	}
	ix.facts.remove(id, c.facts)
	delete(ix.computers, id)
}

// applyDiff moves computer id from the package versions of old to those of new; both ascending.
func (ix *Index) applyDiff(id ComputerID, old, new []uint32) {
	i, j := 0, 0
	for i < len(old) || j < len(new) {
		switch {
		case j == len(new) || i < len(old) && old[i] < new[j]:
			if pv := ix.versions[old[i]]; pv != nil {
				pv.computers.Remove(uint32(id))
				ix.dropVersion(pv)
			}
			i++
		case i == len(old) || new[j] < old[i]:
			pv := ix.version(new[j])
			pv.computers.Add(uint32(id))
			ix.dropVersion(pv)
			j++
		default:
			i++
			j++
		}
	}
}

// sweep removes a computer from every package version, for when its old list is unknown.
func (ix *Index) sweep(id ComputerID) {
	ix.resyncs++
	for _, pv := range ix.versions {
		if pv.computers.CheckedRemove(uint32(id)) {
			ix.dropVersion(pv)
		}
	}
}

func (ix *Index) dropVersions(ids []uint32) {
	for _, id := range ids {
		if pv := ix.versions[id]; pv != nil {
			ix.dropVersion(pv)
		}
	}
}

// dropVersion forgets the cached results that a change of pv's computers makes stale.
func (ix *Index) dropVersion(pv *packageVersion) {
	if pv.linked && len(ix.cache) > 0 {
		ix.dropPackage(pv.name)
	}
}

// sortedSet returns s ascending without duplicates, copying it only when it is not so already.
func sortedSet(s []uint32) []uint32 {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			s = slices.Clone(s)
			slices.Sort(s)
			return slices.Compact(s)
		}
	}
	return s
}

// digest is a 64-bit fingerprint of an ascending package version list.
func digest(s []uint32) uint64 {
	h := uint64(len(s))
	for _, v := range s {
		// splitmix64's finalizer: each id becomes 64 well-mixed bits.
		x := uint64(v) + 0x9e3779b97f4a7c15
		x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
		x = (x ^ x>>27) * 0x94d049bb133111eb
		h = h*31 + (x ^ x>>31)
	}
	return h
}
