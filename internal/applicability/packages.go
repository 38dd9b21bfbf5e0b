package applicability

import (
	"cmp"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/patchday/patchday/internal/version"
)

// packageVersion is one entry of the caller's package version dictionary and the computers
// that have it installed.
type packageVersion struct {
	name, version, arch string
	// known: SetPackageVersion described it. A computer may name an id before that; its bit is
	// kept, and the version counts once it is described.
	known bool
	// linked: known with a valid Debian version, so listed under its package and evaluated.
	linked    bool
	computers *roaring.Bitmap
	pending   []uint32 // computers to add, during AddComputers
}

// packageEntry is what the index knows of one package name.
type packageEntry struct {
	versions []uint32 // the linked package versions of this name, ascending
	updates  []int64  // the updates for this package, ascending
}

// SetPackageVersion describes a package version id of the caller's dictionary. Call it before
// SetComputer names the id (an id not described yet is kept but not evaluated until it is).
// Setting the same values again does nothing. A version that is not a valid Debian version is
// kept out of evaluation, and the error says so.
func (ix *Index) SetPackageVersion(id uint32, name, ver, arch string) error {
	_, verr := version.CompareDebian(ver, ver)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	pv := ix.version(id)
	if pv.known && pv.name == name && pv.version == ver && pv.arch == arch {
		return verr
	}
	if pv.linked {
		ix.unlink(id, pv)
	}
	pv.name, pv.version, pv.arch, pv.known = name, ver, arch, true
	if verr == nil {
		ix.link(id, pv)
	}
	return verr
}

// version returns the entry of a package version id, adding an empty one.
func (ix *Index) version(id uint32) *packageVersion {
	pv := ix.versions[id]
	if pv == nil {
		pv = &packageVersion{computers: roaring.New()}
		ix.versions[id] = pv
	}
	return pv
}

// link lists a package version under its package and classifies it for the package's updates:
// each range is checked once per version, not once per computer.
func (ix *Index) link(id uint32, pv *packageVersion) {
	p := ix.packageEntry(pv.name)
	p.versions = insertSorted(p.versions, id)
	for _, uid := range p.updates {
		ix.updates[uid].addVersion(id, pv)
	}
	pv.linked = true
	if !pv.computers.IsEmpty() {
		ix.dropPackage(pv.name)
	}
}

func (ix *Index) unlink(id uint32, pv *packageVersion) {
	p := ix.packages[pv.name]
	p.versions = removeSorted(p.versions, id)
	for _, uid := range p.updates {
		ix.updates[uid].removeVersion(id)
	}
	pv.linked = false
	if !pv.computers.IsEmpty() {
		ix.dropPackage(pv.name)
	}
	ix.dropPackageIfUnused(pv.name)
}

func (ix *Index) packageEntry(name string) *packageEntry {
	p := ix.packages[name]
	if p == nil {
		p = &packageEntry{}
		ix.packages[name] = p
	}
	return p
}

func (ix *Index) dropPackageIfUnused(name string) {
	if p := ix.packages[name]; p != nil && len(p.versions) == 0 && len(p.updates) == 0 {
		delete(ix.packages, name)
	}
}

// insertSorted inserts v into the ascending s unless it is there already.
func insertSorted[T cmp.Ordered](s []T, v T) []T {
	i, found := slices.BinarySearch(s, v)
	if found {
		return s
	}
	return slices.Insert(s, i, v)
}

// removeSorted removes v from the ascending s when it is there.
func removeSorted[T cmp.Ordered](s []T, v T) []T {
	i, found := slices.BinarySearch(s, v)
	if !found {
		return s
	}
	return slices.Delete(s, i, i+1)
}
