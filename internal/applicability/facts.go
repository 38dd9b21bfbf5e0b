package applicability

import (
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
)

// factIndex holds the computers by fact, and the distinct fact sets seen: few (a handful of
// OS releases, architectures and locales), so a computer refers to its set by number.
type factIndex struct {
	all       *roaring.Bitmap
	byArch    map[string]*roaring.Bitmap
	byOSID    map[string]*roaring.Bitmap
	byRelease map[string]*roaring.Bitmap // "debian:12"
	byLang    map[string]*roaring.Bitmap // languageKeys of each computer language

	sets  []factSet
	setID map[string]uint32 // by factSet.key
}

// factSet is one distinct Facts in the form the bitmaps are keyed by.
type factSet struct {
	arch, osID, release string
	langs               []string // languageKeys of the languages, unique
}

func newFactIndex() factIndex {
	return factIndex{
		all:       roaring.New(),
		byArch:    map[string]*roaring.Bitmap{},
		byOSID:    map[string]*roaring.Bitmap{},
		byRelease: map[string]*roaring.Bitmap{},
		byLang:    map[string]*roaring.Bitmap{},
		setID:     map[string]uint32{},
	}
}

func newFactSet(f Facts) factSet {
	s := factSet{arch: f.Arch, osID: f.OSID, release: f.OSID + ":" + f.OSVersion}
	for _, l := range f.Languages {
		s.langs = append(s.langs, languageKeys(l)...)
	}
	slices.Sort(s.langs)
	s.langs = slices.Compact(s.langs)
	return s
}

// intern returns the number of f's fact set, adding it when new.
func (fx *factIndex) intern(f Facts) uint32 {
	s := newFactSet(f)
	key := s.arch + "\x00" + s.osID + "\x00" + s.release + "\x00" + strings.Join(s.langs, "\x00")
	if id, ok := fx.setID[key]; ok {
		return id
	}
	id := uint32(len(fx.sets))
	fx.sets = append(fx.sets, s)
	fx.setID[key] = id
	return id
}

func (fx *factIndex) add(c ComputerID, set uint32) {
	s := &fx.sets[set]
	fx.all.Add(uint32(c))
	addTo(fx.byArch, s.arch, c)
	addTo(fx.byOSID, s.osID, c)
	addTo(fx.byRelease, s.release, c)
	for _, l := range s.langs {
		addTo(fx.byLang, l, c)
	}
}

func (fx *factIndex) remove(c ComputerID, set uint32) {
	s := &fx.sets[set]
	fx.all.Remove(uint32(c))
	removeFrom(fx.byArch, s.arch, c)
	removeFrom(fx.byOSID, s.osID, c)
	removeFrom(fx.byRelease, s.release, c)
	for _, l := range s.langs {
		removeFrom(fx.byLang, l, c)
	}
}

func addTo(m map[string]*roaring.Bitmap, key string, c ComputerID) {
	bm := m[key]
	if bm == nil {
		bm = roaring.New()
		m[key] = bm
	}
	bm.Add(uint32(c))
}

func removeFrom(m map[string]*roaring.Bitmap, key string, c ComputerID) {
	if bm := m[key]; bm != nil {
		bm.Remove(uint32(c))
		if bm.IsEmpty() {
			delete(m, key)
		}
	}
}

// union is the computers under any of keys; an empty bitmap when none.
func union(m map[string]*roaring.Bitmap, keys []string) *roaring.Bitmap {
	var bms []*roaring.Bitmap
	for _, k := range keys {
		if bm := m[k]; bm != nil {
			bms = append(bms, bm)
		}
	}
	return roaring.FastOr(bms...)
}

// filter is the computers whose facts pass r's namespace, OS release and language filters,
// or nil when r has none.
func (fx *factIndex) filter(r *rule) *roaring.Bitmap {
	var parts []*roaring.Bitmap
	if r.Namespace != "" {
		parts = append(parts, union(fx.byOSID, []string{r.Namespace}))
	}
	if len(r.OSReleases) > 0 {
		parts = append(parts, union(fx.byRelease, r.OSReleases))
	}
	if len(r.langs) > 0 {
		parts = append(parts, union(fx.byLang, r.langs))
	}
	if len(parts) == 0 {
		return nil
	}
	return roaring.FastAnd(parts...)
}

// passes is filter for one computer's fact set.
func (s *factSet) passes(r *rule) bool {
	if r.Namespace != "" && s.osID != r.Namespace {
		return false
	}
	if len(r.OSReleases) > 0 && !slices.Contains(r.OSReleases, s.release) {
		return false
	}
	if len(r.langs) > 0 && !slices.ContainsFunc(r.langs, func(l string) bool {
		_, found := slices.BinarySearch(s.langs, l)
		return found
	}) {
		return false
	}
	return true
}

// languageKeys are the keys a computer language is indexed under: the tag and every prefix
// of it, lower-cased ("sr-Latn-RS" gives sr, sr-latn, sr-latn-rs), so that an update for "de"
// finds a computer with de-CH (RFC 4647 basic filtering) but one for de-CH does not find de.
func languageKeys(tag string) []string {
	tag = normalizeLanguage(tag)
	if tag == "" {
		return nil
	}
	var keys []string
	for i := range len(tag) {
		if tag[i] == '-' {
			keys = append(keys, tag[:i])
		}
	}
	return append(keys, tag)
}

// normalizeLanguage lower-cases a tag (BCP 47 is case-insensitive) and accepts the POSIX "_".
func normalizeLanguage(tag string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(tag)), "_", "-")
}
