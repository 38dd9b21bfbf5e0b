// Package applicability decides which computers need which update. It is an in-memory index
// of the fleet: a roaring bitmap of computers per installed package version and per fact (OS
// release, architecture, language), and the updates' rules, each with the package versions
// it affects worked out once. Evaluating an update is then bitmap algebra over the versions of
// one package, not a loop over computers.
//
// The index holds no per-computer package lists (100,000 computers with 1,500 packages each
// would be hundreds of megabytes): the caller, which keeps inventories in the database, passes
// a computer's previous list when it replaces or removes it.
//
// Use: at start, SetPackageVersion for the dictionary, SetUpdate for every deb update, and
// AddComputers in batches; EvaluateAll then gives every verdict. When an inventory changes,
// SetPackageVersion for its new dictionary entries, SetComputer with the old and new lists,
// and EvaluateComputer for that computer's new verdicts (no other computer's change). When an
// update is added, changed or removed, Evaluate it and the updates it supersedes (Superseded).
package applicability

import (
	"errors"
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/patchday/patchday/internal/version"
)

// ComputerID identifies a computer; it is the value stored in the bitmaps.
type ComputerID uint32

// Facts are what a computer is, as far as an update's filters ask.
type Facts struct {
	OSID      string   // os-release ID: debian, ubuntu
	OSVersion string   // os-release VERSION_ID: 12, 24.04
	Arch      string   // dpkg architecture: amd64, arm64
	Languages []string // BCP 47 tags: de-CH, en
}

// Update is an update's applicability rule.
type Update struct {
	ID         int64
	Package    string        // the deb package name (the purl's name)
	Namespace  string        // the purl's namespace (debian, ubuntu); when set, the computer's OSID must equal it
	Range      version.Range // affected versions, scheme deb; All means every version
	OSReleases []string      // "debian:12" = OSID:OSVersion; empty = any
	// Architectures filter the installed package's architecture (multiarch: libc6:i386 on an
	// amd64 computer is an i386 package); a package of architecture all passes when the
	// computer's architecture is listed. Empty = any.
	Architectures []string
	Languages     []string // BCP 47; empty = any; "de" matches a computer with de-CH
	Supersedes    []int64  // updates this one supersedes
	Prerequisites []int64  // updates to install first; kept for the caller, no effect on verdicts
}

// Verdict is what an update means for one computer.
type Verdict uint8

const (
	// NotApplicable: the package is not installed, or the computer's facts do not match.
	NotApplicable Verdict = iota
	// Affected: an installed version of the package is in the affected range.
	Affected
	// Patched: the package is installed and no installed version of it is in the range.
	Patched
	// Superseded: affected, but a newer update that supersedes this one is affected too, and
	// that one is offered instead.
	Superseded
)

func (v Verdict) String() string {
	switch v {
	case NotApplicable:
		return "not applicable"
	case Affected:
		return "affected"
	case Patched:
		return "patched"
	case Superseded:
		return "superseded"
	}
	return "unknown"
}

// Verdicts are the computers of the fleet per verdict for one update; the computers in none
// of them are not applicable. The caller owns the bitmaps.
type Verdicts struct {
	Affected, Patched, Superseded *roaring.Bitmap
}

// ErrUnknownUpdate is returned for an update the index does not hold.
var ErrUnknownUpdate = errors.New("applicability: unknown update")

// Index is the fleet and the updates. It is safe for concurrent use: evaluations share a read
// lock and run in parallel; changes take the write lock.
type Index struct {
	mu sync.RWMutex

	versions map[uint32]*packageVersion // by package version id
	packages map[string]*packageEntry   // by package name
	updates  map[int64]*rule
	// supersededBy[B] lists the updates whose Supersedes names B.
	supersededBy map[int64][]int64

	computers map[ComputerID]computer
	facts     factIndex

	// cache holds each update's affected computers before supersedence, which the
	// evaluations of the updates it supersedes need too. Readers fill it under mu.RLock, so
	// it has its own lock; writers drop what their change makes stale.
	cacheMu sync.Mutex
	cache   map[int64]*roaring.Bitmap

	resyncs uint64
}

// New returns an empty index.
func New() *Index {
	return &Index{
		versions:     map[uint32]*packageVersion{},
		packages:     map[string]*packageEntry{},
		updates:      map[int64]*rule{},
		supersededBy: map[int64][]int64{},
		computers:    map[ComputerID]computer{},
		facts:        newFactIndex(),
		cache:        map[int64]*roaring.Bitmap{},
	}
}

// Update returns the rule of an update as the index holds it, with its supersedes and
// prerequisites.
func (ix *Index) Update(id int64) (Update, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	r, ok := ix.updates[id]
	if !ok {
		return Update{}, false
	}
	u := r.Update
	u.Range.Constraints = slices.Clone(u.Range.Constraints)
	u.OSReleases = slices.Clone(u.OSReleases)
	u.Architectures = slices.Clone(u.Architectures)
	u.Languages = slices.Clone(u.Languages)
	u.Supersedes = slices.Clone(u.Supersedes)
	u.Prerequisites = slices.Clone(u.Prerequisites)
	return u, true
}

// Stats describes the index's size.
type Stats struct {
	Computers       int
	PackageVersions int
	Updates         int
	// BitmapBytes is the serialized size of the package versions' computer bitmaps: most of
	// the index's memory.
	BitmapBytes uint64
	// Resyncs counts the computer changes whose old package list did not match what the
	// index held, and which were repaired by a sweep over every package version: a caller
	// bug to look into when it grows.
	Resyncs uint64
}

// Stats returns the index's size.
func (ix *Index) Stats() Stats {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s := Stats{Computers: len(ix.computers), PackageVersions: len(ix.versions), Updates: len(ix.updates), Resyncs: ix.resyncs}
	for _, pv := range ix.versions {
		s.BitmapBytes += pv.computers.GetSizeInBytes()
	}
	return s
}
