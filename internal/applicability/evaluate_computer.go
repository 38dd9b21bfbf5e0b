package applicability

import (
	"maps"
	"slices"
)

// EvaluateComputer judges one computer's facts and installed package versions against every
// update of its packages, after supersedence: the verdicts Evaluate gives a computer with
// these facts and packages. Updates missing from the map are not applicable. The computer
// need not be in the index, so an inventory can be judged before it is stored.
func (ix *Index) EvaluateComputer(f Facts, pvs []uint32) map[int64]Verdict {
	facts := newFactSet(f)
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	raw := map[int64]Verdict{}
	for _, id := range pvs {
		pv := ix.versions[id]
		if pv == nil || !pv.linked {
			continue
		}
		for _, uid := range ix.packages[pv.name].updates {
			r := ix.updates[uid]
			i, found := r.find(id)
			if !found {
				continue
			}
			m := r.matches[i]
			if m.byComputerArch && !slices.Contains(r.Architectures, facts.arch) || !facts.passes(r) {
				continue
			}
			if m.affected {
				raw[uid] = Affected
			} else if raw[uid] != Affected {
				raw[uid] = Patched
			}
		}
	}
	out := maps.Clone(raw)
	for uid, v := range raw {
		if v != Affected {
			continue
		}
		for _, a := range ix.superseders(uid) {
			if raw[a] == Affected {
				out[uid] = Superseded
				break
			}
		}
	}
	return out
}
