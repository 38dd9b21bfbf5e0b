package rollout

import (
	"context"
	"fmt"

	"github.com/patchday/patchday/internal/store"
)

// FactsOf are the facts of a stored computer.
func FactsOf(c store.Computer) Facts {
	return Facts{Hostname: c.Hostname, OSID: c.OSID, OSVersion: c.OSVersion, Arch: c.Arch, Tags: c.Tags}
}

// RefreshComputer brings a computer's memberships of its organisation's dynamic groups in
// line with its facts. Call it in the transaction that changed them (enrollment, a new
// inventory, tags).
func RefreshComputer(ctx context.Context, tx *store.Tx, c store.Computer) error {
	groups, err := tx.ListGroups(ctx, c.OrgID)
	if err != nil {
		return err
	}
	f := FactsOf(c)
	for _, g := range groups {
		if g.Rule == "" {
			continue
		}
		r, err := ParseRule(g.Rule)
		if err != nil {
			return fmt.Errorf("group %s: rule: %w", g.Name, err)
		}
		if r.Matches(f) {
			err = tx.AddGroupMember(ctx, g.ID, c.ID, "rule")
		} else {
			_, err = tx.RemoveGroupMember(ctx, g.ID, c.ID)
		}
		if err != nil {
			return err
		}
	}
	// Its groups decide which approvals reach it, and its maintenance windows: its list is
	// rebuilt at its next check-in even when no state moves.
	if _, err = tx.SyncApprovals(ctx, c.OrgID, 0, c.ID); err != nil {
		return err
	}
	return tx.BumpAssignGen(ctx, c.OrgID)
}

// RefreshGroup recomputes a dynamic group's members over its organisation's active
// computers; it returns how many joined and left.
func RefreshGroup(ctx context.Context, tx *store.Tx, g store.Group) (joined, left int, err error) {
	r, err := ParseRule(g.Rule)
	if err != nil {
		return 0, 0, fmt.Errorf("group %s: rule: %w", g.Name, err)
	}
	members, err := tx.GroupMemberIDs(ctx, g.ID)
	if err != nil {
		return 0, 0, err
	}
	revoked := false
	f := store.ComputerFilter{Revoked: &revoked, Page: store.Page{Limit: 1000}}
	for {
		cs, err := tx.ListComputers(ctx, g.OrgID, f)
		if err != nil {
			return joined, left, err
		}
		for _, c := range cs {
			in := g.Rule != "" && r.Matches(FactsOf(c))
			switch {
			case in && !members[c.ID]:
				if err := tx.AddGroupMember(ctx, g.ID, c.ID, "rule"); err != nil {
					return joined, left, err
				}
				joined++
			case !in && members[c.ID]:
				if _, err := tx.RemoveGroupMember(ctx, g.ID, c.ID); err != nil {
					return joined, left, err
				}
				left++
			}
			delete(members, c.ID)
		}
		if len(cs) < f.Limit {
			break
		}
		f.After = cs[len(cs)-1].ID
	}
	// Members not among the active computers (revoked since) leave too.
	for id := range members {
		if _, err := tx.RemoveGroupMember(ctx, g.ID, id); err != nil {
			return joined, left, err
		}
		left++
	}
	if joined+left > 0 {
		if _, err := tx.SyncApprovals(ctx, g.OrgID, 0, 0); err != nil {
			return joined, left, err
		}
		if err := tx.BumpAssignGen(ctx, g.OrgID); err != nil {
			return joined, left, err
		}
	}
	return joined, left, nil
}
