package compliance

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/package-url/packageurl-go"

	"github.com/patchday/patchday/internal/applicability"
	"github.com/patchday/patchday/internal/catalog"
	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/version"
)

// Evaluator keeps every organisation's applicability index in memory and the stored states
// of updates on computers in step with it. It re-evaluates incrementally: one computer when
// its inventory changes, one update (and those it supersedes) when the catalog gains it, never
// the whole fleet at each check-in. Changes are serialised by its lock, always taken before a
// database transaction.
type Evaluator struct {
	st  *store.Store
	log *slog.Logger

	mu        sync.Mutex
	orgs      map[int64]*applicability.Index
	dict      map[pvKey]uint32
	pvs       []store.PackageVersion // every dictionary entry, for new indexes
	computers map[int64]fleetEntry
	rules     map[int64]bool // updates the engine evaluates (deb packages with a range)
	lastRule  int64          // highest update id loaded
	polled    time.Time      // inventory changes up to here are in the indexes
}

type pvKey struct{ name, version, arch string }

// fleetEntry is what the evaluator remembers of a computer: enough to find the package list
// the index holds for it.
type fleetEntry struct {
	org   int64
	hash  string
	facts applicability.Facts
}

// NewEvaluator makes an evaluator; Load fills it.
func NewEvaluator(st *store.Store, log *slog.Logger) *Evaluator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Evaluator{st: st, log: log, orgs: map[int64]*applicability.Index{}, dict: map[pvKey]uint32{},
		computers: map[int64]fleetEntry{}, rules: map[int64]bool{}}
}

func (e *Evaluator) index(org int64) *applicability.Index {
	ix := e.orgs[org]
	if ix == nil {
		ix = applicability.New()
		for _, p := range e.pvs {
			ix.SetPackageVersion(p.ID, p.Name, p.Version, p.Arch)
		}
		e.orgs[org] = ix
	}
	return ix
}

// addPVs records new dictionary entries in the evaluator and every index.
func (e *Evaluator) addPVs(pvs []store.PackageVersion) {
	for _, p := range pvs {
		e.dict[pvKey{p.Name, p.Version, p.Arch}] = p.ID
		e.pvs = append(e.pvs, p)
		for _, ix := range e.orgs {
			ix.SetPackageVersion(p.ID, p.Name, p.Version, p.Arch)
		}
	}
}

func (e *Evaluator) known(p store.PackageVersion) (uint32, bool) {
	id, ok := e.dict[pvKey{p.Name, p.Version, p.Arch}]
	return id, ok
}

func factsOf(osID, osVersion, arch string, langs []string) applicability.Facts {
	return applicability.Facts{OSID: osID, OSVersion: osVersion, Arch: arch, Languages: langs}
}

func packagesOf(inv *protocol.Inventory) []store.PackageVersion {
	out := make([]store.PackageVersion, len(inv.Packages))
	for i, p := range inv.Packages {
		out[i] = store.PackageVersion{Name: p.Name, Version: p.Version, Arch: p.Arch}
	}
	return out
}

// distributions are the purl namespaces of deb packages that name an operating system: an
// update for pkg:deb/ubuntu/openssl does not concern a Debian machine.
var distributions = map[string]bool{"debian": true, "ubuntu": true, "raspbian": true, "devuan": true, "kali": true,
	"linuxmint": true, "pop": true, "elementary": true, "pureos": true}

// ruleOf turns a stored update into an applicability rule; ok is false for updates the
// engine does not evaluate (not a deb package, or no version range): those concern only the
// computers they are assigned to by hand.
func ruleOf(u store.UpdateRule) (applicability.Update, bool, error) {
	var d catalog.UpdateDef
	if err := json.Unmarshal(u.Definition, &d); err != nil {
		return applicability.Update{}, false, fmt.Errorf("update %d: %w", u.ID, err)
	}
	p, err := packageurl.FromString(d.Applicability.PURL)
	if err != nil || p.Type != "deb" || d.Applicability.Vers == "" {
		return applicability.Update{}, false, nil
	}
	rng, err := version.ParseRange(d.Applicability.Vers)
	if err != nil {
		return applicability.Update{}, false, fmt.Errorf("update %d: %w", u.ID, err)
	}
	ns := p.Namespace
	if !distributions[ns] {
		ns = "" // a vendor's repository (pkg:deb/example/...), not an OS: any OS may have it
	}
	return applicability.Update{ID: u.ID, Package: p.Name, Namespace: ns, Range: rng,
		OSReleases: d.Applicability.OSReleases, Architectures: d.Applicability.Architectures, Languages: d.Applicability.Languages,
		Supersedes: u.Supersedes, Prerequisites: u.Prerequisites}, true, nil
}

// Judges says whether the evaluator decides which computers an update (its definition)
// concerns: a deb package with a version range. The others concern only the computers they
// are assigned to by hand.
func Judges(definition json.RawMessage) bool {
	_, ok, err := ruleOf(store.UpdateRule{Definition: definition})
	return ok && err == nil
}

// Load reads the fleet and the catalog into memory, then evaluates every update and brings
// the stored states in line. The server calls it once at start.
func (e *Evaluator) Load(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	start := time.Now()
	err := e.st.PackageVersions(ctx, 0, func(p store.PackageVersion) error {
		e.dict[pvKey{p.Name, p.Version, p.Arch}] = p.ID
		e.pvs = append(e.pvs, p)
		return nil
	})
	if err != nil {
		return err
	}
	if err := e.loadRules(ctx); err != nil {
		return err
	}
	now := store.Now()
	var pending []store.FleetComputer // inventories stored before package versions were
	n := 0
	// Computers go into the indexes in batches: several times faster than one by one.
	batch := map[int64][]applicability.Computer{}
	flush := func() {
		for org, cs := range batch {
			e.index(org).AddComputers(cs)
		}
		clear(batch)
	}
	err = e.st.FleetComputers(ctx, time.Time{}, func(c store.FleetComputer) error {
		if c.PVs == nil {
			pending = append(pending, c)
			return nil
		}
		pvs, err := store.DecodePVs(c.PVs, nil)
		if err != nil {
			return fmt.Errorf("computer %d: %w", c.ID, err)
		}
		f := factsOf(c.OSID, c.OSVersion, c.Arch, c.Languages)
		batch[c.OrgID] = append(batch[c.OrgID], applicability.Computer{ID: applicability.ComputerID(c.ID), Facts: f, PVs: pvs})
		e.computers[c.ID] = fleetEntry{org: c.OrgID, hash: c.InventoryHash, facts: f}
		if n++; n%2000 == 0 {
			flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	flush()
	for _, c := range pending {
		if err := e.backfill(ctx, c); err != nil {
			return err
		}
		n++
	}
	e.polled = now
	loaded := time.Since(start)
	changes := 0
	for org, ix := range e.orgs {
		// Changes of many updates go together: a transaction per update would spend the
		// time in commits.
		var pending []store.StateChange
		touched := false
		for id, v := range ix.EvaluateAll() {
			cs, t, err := e.diffUpdate(ctx, org, id, v)
			if err != nil {
				return err
			}
			pending = append(pending, cs...)
			touched = touched || t
			if len(pending) >= 20000 {
				changes += len(pending)
				if err := e.write(ctx, org, pending, false); err != nil {
					return err
				}
				pending = pending[:0]
			}
		}
		changes += len(pending)
		if err := e.write(ctx, org, pending, touched); err != nil {
			return err
		}
		if err := e.st.Update(ctx, func(tx *store.Tx) error {
			_, err := tx.SyncApprovals(ctx, org, 0, 0)
			return err
		}); err != nil {
			return err
		}
	}
	e.log.Info("applicability evaluated", "computers", n, "updates", len(e.rules), "load", loaded.Round(time.Millisecond),
		"total", time.Since(start).Round(time.Millisecond), "state_changes", changes)
	return nil
}

// loadRules adds the updates created since the last load to the indexes; it returns their ids.
func (e *Evaluator) loadRules(ctx context.Context) error {
	rules, err := e.st.UpdateRules(ctx, e.lastRule)
	if err != nil {
		return err
	}
	for _, u := range rules {
		e.lastRule = max(e.lastRule, u.ID)
		if u.Declined {
			continue
		}
		r, ok, err := ruleOf(u)
		if err != nil {
			e.log.Warn("update not evaluated", "update_id", u.ID, "err", err)
			continue
		}
		if !ok {
			continue
		}
		if err := e.index(u.OrgID).SetUpdate(r); err != nil {
			e.log.Warn("update not evaluated", "update_id", u.ID, "err", err)
			continue
		}
		e.rules[u.ID] = true
	}
	return nil
}

func (e *Evaluator) addComputer(c store.FleetComputer, pvs []uint32) {
	f := factsOf(c.OSID, c.OSVersion, c.Arch, c.Languages)
	old := e.computers[c.ID]
	var oldPVs []uint32
	if old.hash != "" && old.org == c.OrgID {
		oldPVs, _ = e.st.InventoryPVs(context.Background(), old.hash)
	} else if old.hash != "" {
		e.index(old.org).RemoveComputer(applicability.ComputerID(c.ID), nil)
	}
	e.index(c.OrgID).SetComputer(applicability.ComputerID(c.ID), f, oldPVs, pvs)
	e.computers[c.ID] = fleetEntry{org: c.OrgID, hash: c.InventoryHash, facts: f}
}

// Forget drops a computer that was revoked or deleted from the evaluation on this node.
// Other nodes drop it at their next start; until then the store ignores their changes for a
// computer that is gone.
func (e *Evaluator) Forget(id int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old, ok := e.computers[id]
	if !ok {
		return
	}
	pvs, _ := e.st.InventoryPVs(context.Background(), old.hash) // a wrong list is repaired by a sweep
	e.index(old.org).RemoveComputer(applicability.ComputerID(id), pvs)
	delete(e.computers, id)
}

// backfill computes the package version ids of an inventory stored without them.
func (e *Evaluator) backfill(ctx context.Context, c store.FleetComputer) error {
	inv, err := DecodeInventory(c.Inventory)
	if err != nil {
		return fmt.Errorf("computer %d: %w", c.ID, err)
	}
	var ids []uint32
	var added []store.PackageVersion
	err = e.st.Update(ctx, func(tx *store.Tx) error {
		var err error
		if ids, added, err = tx.PackageVersionIDs(ctx, packagesOf(&inv), e.known); err != nil {
			return err
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
		return tx.SetInventoryPVs(ctx, c.InventoryHash, ids)
	})
	if err != nil {
		return err
	}
	e.addPVs(added)
	e.addComputer(c, ids)
	return nil
}

// next is the state an update should have on a computer given the engine's verdict and the
// stored row (nil when none); keep says the row is right as it is, and "" removes it.
//
// A direct assignment (row.Approved) is the operator's intent and never overrides the
// verdict: it makes an affected computer's update approved, and keeps the row of a computer
// the update does not concern as StateNotApplicable, which needs nothing and is offered to
// no agent, until the computer comes to need the update.
func next(row *store.StateRow, v applicability.Verdict) (state string, keep bool) {
	switch v {
	case applicability.Affected:
		if row == nil {
			return store.StateNeeded, false
		}
		switch row.State {
		case store.StateNeeded, store.StateApproved, store.StateFailed:
			return row.State, true
		}
		if row.Approved {
			return store.StateApproved, false
		}
		return store.StateNeeded, false
	case applicability.Superseded:
		if row != nil && row.State == store.StateSuperseded {
			return row.State, true
		}
		return store.StateSuperseded, false
	case applicability.Patched:
		if row == nil {
			return "", true // never needed here: nothing to record
		}
		if row.State == store.StateInstalled || row.State == store.StatePendingReboot {
			return row.State, true
		}
		if row.State == store.StateNotApplicable || row.NeededSince == nil {
			// Never needed here either: only an assignment (or, from before assignments
			// followed applicability, its claim that the computer needed the update) is
			// stored. Nothing was installed.
			return notConcerned(row)
		}
		return store.StateInstalled, false
	}
	// Not applicable (any more): the row goes, unless someone assigned the update by hand.
	return notConcerned(row)
}

// notConcerned is next for a computer the update does not concern: no row, or a row that
// keeps an assignment.
func notConcerned(row *store.StateRow) (state string, keep bool) {
	switch {
	case row == nil:
		return "", true
	case row.Approved:
		return store.StateNotApplicable, row.State == store.StateNotApplicable
	}
	return "", false
}

// change is the StateChange that moves row to state; touched says an approved row moved, so
// the computer's assignment list may change.
func change(org, computer, update int64, row *store.StateRow, state string, now time.Time) (store.StateChange, bool) {
	c := store.StateChange{OrgID: org, ComputerID: computer, UpdateID: update, State: state, First: row == nil}
	if state == store.StateNeeded || state == store.StateSuperseded || state == store.StateApproved {
		if row != nil && row.NeededSince != nil {
			c.NeededSince = row.NeededSince
		} else {
			c.NeededSince = &now
		}
	}
	return c, row != nil && row.Approved
}

// persistUpdate brings the stored states of one update in line with its verdicts and
// returns how many changed.
func (e *Evaluator) persistUpdate(ctx context.Context, org, updateID int64, v applicability.Verdicts) (int, error) {
	changes, touched, err := e.diffUpdate(ctx, org, updateID, v)
	if err != nil {
		return 0, err
	}
	return len(changes), e.write(ctx, org, changes, touched)
}

// diffUpdate returns the changes that bring the stored states of one update in line with its
// verdicts; touched says an approved row changes.
func (e *Evaluator) diffUpdate(ctx context.Context, org, updateID int64, v applicability.Verdicts) ([]store.StateChange, bool, error) {
	rows, err := e.st.UpdateStates(ctx, updateID)
	if err != nil {
		return nil, false, err
	}
	now := store.Now()
	var changes []store.StateChange
	touched := false
	visit := func(bm *roaring.Bitmap, verdict applicability.Verdict) {
		it := bm.Iterator()
		for it.HasNext() {
			id := int64(it.Next())
			row, had := rows[id]
			var rp *store.StateRow
			if had {
				rp = &row
				delete(rows, id)
			}
			if state, keep := next(rp, verdict); !keep {
				c, t := change(org, id, updateID, rp, state, now)
				changes = append(changes, c)
				touched = touched || t
			}
		}
	}
	visit(v.Affected, applicability.Affected)
	visit(v.Superseded, applicability.Superseded)
	// The rest of the stored rows: patched or not applicable. Patched machines without a
	// row stay without one (most of the fleet for most updates: hundreds of millions of
	// pairs), so only the rows are visited, not the Patched bitmap.
	for id, row := range rows {
		verdict := applicability.NotApplicable
		if v.Patched.Contains(uint32(id)) {
			verdict = applicability.Patched
		}
		if state, keep := next(&row, verdict); !keep {
			c, t := change(org, id, updateID, &row, state, now)
			changes = append(changes, c)
			touched = touched || t
		}
	}
	return changes, touched, nil
}

// write stores state changes in transactions of a bounded size.
func (e *Evaluator) write(ctx context.Context, org int64, changes []store.StateChange, touched bool) error {
	const batch = 20000
	for len(changes) > 0 || touched {
		n := min(batch, len(changes))
		part := changes[:n]
		changes = changes[n:]
		last := len(changes) == 0
		err := e.st.Update(ctx, func(tx *store.Tx) error {
			if err := tx.ApplyStateChanges(ctx, part); err != nil {
				return err
			}
			if last && touched {
				return tx.BumpAssignGen(ctx, org)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if last {
			break
		}
	}
	return nil
}

// UpdateAdded evaluates an update the catalog just gained, with the updates it supersedes,
// and stores the states. Other nodes pick it up when they poll.
func (e *Evaluator) UpdateAdded(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.evaluateNewRules(ctx)
}

func (e *Evaluator) evaluateNewRules(ctx context.Context) error {
	from := e.lastRule
	if err := e.loadRules(ctx); err != nil {
		return err
	}
	for org, ix := range e.orgs {
		todo := map[int64]bool{}
		for id := range e.rules {
			if id <= from {
				continue
			}
			u, ok := ix.Update(id)
			if !ok {
				continue
			}
			todo[id] = true
			// The updates it supersedes, directly or not, may now be superseded.
			stack := slices.Clone(u.Supersedes)
			for len(stack) > 0 {
				b := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if todo[b] {
					continue
				}
				todo[b] = true
				if ub, ok := ix.Update(b); ok {
					stack = append(stack, ub.Supersedes...)
				}
			}
		}
		for id := range todo {
			if !e.rules[id] {
				continue
			}
			v, err := ix.Evaluate(id)
			if err != nil {
				return err
			}
			if _, err := e.persistUpdate(ctx, org, id, v); err != nil {
				return err
			}
			if err := e.st.Update(ctx, func(tx *store.Tx) error {
				_, err := tx.SyncApprovals(ctx, org, id, 0)
				return err
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// InventoryChange is the evaluation of one computer's new inventory. Make it with Inventory
// (which takes the evaluator's lock), call Write in the transaction that stores the
// inventory, Apply after the commit, and Release in every case.
type InventoryChange struct {
	e       *Evaluator
	comp    store.Computer
	inv     *protocol.Inventory
	hash    string
	ids     []uint32
	added   []store.PackageVersion
	written bool
}

// Inventory starts the evaluation of a computer's new inventory (hash is its Hash).
func (e *Evaluator) Inventory(comp store.Computer, inv *protocol.Inventory, hash string) *InventoryChange {
	e.mu.Lock()
	return &InventoryChange{e: e, comp: comp, inv: inv, hash: hash}
}

// For names the computer when it was not known at Inventory (an enrollment).
func (ic *InventoryChange) For(comp store.Computer) { ic.comp = comp }

// Write stores the inventory's package version ids and the computer's new states. changed
// says an approved update's state moved, so the computer's assignment list must be rebuilt.
func (ic *InventoryChange) Write(ctx context.Context, tx *store.Tx) (changed bool, err error) {
	e := ic.e
	ids, added, err := tx.PackageVersionIDs(ctx, packagesOf(ic.inv), e.known)
	if err != nil {
		return false, err
	}
	slices.Sort(ids)
	ic.ids, ic.added = slices.Compact(ids), added
	if err := tx.SetInventoryPVs(ctx, ic.hash, ic.ids); err != nil {
		return false, err
	}
	ix := e.index(ic.comp.OrgID)
	// New package versions must be known to the index to be judged; adding them to the
	// index before the commit is harmless: no computer refers to them yet.
	for _, p := range added {
		ix.SetPackageVersion(p.ID, p.Name, p.Version, p.Arch)
	}
	verdicts := ix.EvaluateComputer(factsOf(ic.inv.OSID, ic.inv.OSVersion, ic.inv.Arch, ic.inv.Languages), ic.ids)
	rows, err := tx.ComputerStates(ctx, ic.comp.ID)
	if err != nil {
		return false, err
	}
	now := store.Now()
	var changes []store.StateChange
	for uid, v := range verdicts {
		row, had := rows[uid]
		var rp *store.StateRow
		if had {
			rp = &row
			delete(rows, uid)
		}
		if state, keep := next(rp, v); !keep {
			c, t := change(ic.comp.OrgID, ic.comp.ID, uid, rp, state, now)
			changes = append(changes, c)
			changed = changed || t
		}
	}
	for uid, row := range rows {
		if !e.rules[uid] {
			continue // assigned by hand; the engine has no say
		}
		if state, keep := next(&row, applicability.NotApplicable); !keep {
			c, t := change(ic.comp.OrgID, ic.comp.ID, uid, &row, state, now)
			changes = append(changes, c)
			changed = changed || t
		}
	}
	if err := tx.ApplyStateChanges(ctx, changes); err != nil {
		return false, err
	}
	// Rows that became needed may be approved already, for one of its groups.
	moved, err := tx.SyncApprovals(ctx, ic.comp.OrgID, 0, ic.comp.ID)
	if err != nil {
		return false, err
	}
	ic.written = true
	return changed || moved > 0, nil
}

// Apply puts the committed inventory into the index.
func (ic *InventoryChange) Apply() {
	if !ic.written {
		return
	}
	e := ic.e
	e.addPVs(ic.added)
	e.addComputer(store.FleetComputer{ID: ic.comp.ID, OrgID: ic.comp.OrgID, OSID: ic.inv.OSID, OSVersion: ic.inv.OSVersion,
		Arch: ic.inv.Arch, Languages: ic.inv.Languages, InventoryHash: ic.hash}, ic.ids)
}

// Release ends the change.
func (ic *InventoryChange) Release() { ic.e.mu.Unlock() }

// Declined takes declined updates out of the indexes: they are evaluated no more.
func (e *Evaluator) Declined(ids map[int64]int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.declined(ids)
}

func (e *Evaluator) declined(ids map[int64]int64) {
	for id, org := range ids {
		if ix := e.orgs[org]; ix != nil {
			ix.RemoveUpdate(id)
		}
		delete(e.rules, id)
	}
}

// Poll takes in what other server nodes changed: updates created and inventories received
// since the last poll. States were stored by the node that saw the change; evaluating new
// updates again here is idempotent and covers a node that stopped before it finished.
func (e *Evaluator) Poll(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.evaluateNewRules(ctx); err != nil {
		return err
	}
	since := e.polled.Add(-2 * time.Second) // clocks of nodes differ a little
	now := store.Now()
	declined, err := e.st.DeclinedSince(ctx, since)
	if err != nil {
		return err
	}
	e.declined(declined)
	// New package versions first: the inventories below may use them.
	if err := e.st.PackageVersions(ctx, e.maxPV(), func(p store.PackageVersion) error {
		e.addPVs([]store.PackageVersion{p})
		return nil
	}); err != nil {
		return err
	}
	var changed []store.FleetComputer
	err = e.st.FleetComputers(ctx, since, func(c store.FleetComputer) error {
		if e.computers[c.ID].hash != c.InventoryHash && c.PVs != nil {
			changed = append(changed, c)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range changed {
		pvs, err := store.DecodePVs(c.PVs, nil)
		if err != nil {
			return err
		}
		e.addComputer(c, pvs)
	}
	e.polled = now
	return nil
}

func (e *Evaluator) maxPV() uint32 {
	if len(e.pvs) == 0 {
		return 0
	}
	return e.pvs[len(e.pvs)-1].ID // appended in id order
}
