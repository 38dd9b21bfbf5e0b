package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/patchday/patchday/internal/protocol"
)

// maxResultsPerCheckIn is how many spooled results one check-in carries; the rest follow.
const maxResultsPerCheckIn = 200

// CheckIn reports health and spooled results, sends the inventory when the server asks for
// it, and accepts the signed assignment list if it verifies. It returns when to check in next.
func (a *Agent) CheckIn(ctx context.Context) (time.Duration, error) {
	inv, err := a.cfg.Collector.Inventory(ctx)
	if err != nil {
		return 0, fmt.Errorf("collect inventory: %w", err)
	}
	health, err := a.cfg.Collector.Health(ctx)
	if err != nil {
		return 0, fmt.Errorf("collect health: %w", err)
	}
	results, err := a.spool.list(maxResultsPerCheckIn)
	if err != nil {
		return 0, err
	}
	req := protocol.CheckIn{AgentVersion: a.cfg.Version, InventoryHash: inv.Hash(), Health: health, Results: results,
		Sequence: a.prog.Sequence, KeyID: protocol.KeyID(a.key)}
	resp, err := a.send(ctx, req)
	if err != nil {
		return 0, err
	}
	if resp.NeedInventory {
		req.Inventory, req.Results = &inv, nil
		a.log.Info("sending the full inventory", "packages", len(inv.Packages), "hash", req.InventoryHash)
		if resp, err = a.send(ctx, req); err != nil {
			return 0, err
		}
	}
	now := a.cfg.Now().UTC()
	a.prog.LastCheckIn = &now
	next := time.Duration(resp.NextCheckIn) * time.Second
	nextAt := now.Add(next)
	a.prog.NextCheckIn = &nextAt
	a.prog.LastError = ""
	if resp.ScanTasks != nil {
		// Scan tasks stand apart from the assignment list: a refused one changes nothing else.
		if err := a.acceptScanTasks(resp.ScanTasks, inv.Networks); err != nil {
			a.log.Error("scan tasks refused", "err", err)
		}
	} else {
		a.prog.ScanTasks = nil // the server sends tasks while they are due, and only then
	}
	if err := a.accept(resp); err != nil {
		a.prog.LastError = err.Error()
		if serr := a.saveProgress(); serr != nil {
			return 0, errors.Join(err, serr)
		}
		return next, err
	}
	return next, a.saveProgress()
}

func (a *Agent) send(ctx context.Context, req protocol.CheckIn) (protocol.CheckInResponse, error) {
	var resp protocol.CheckInResponse
	err := post(ctx, a.client, a.id.Server+protocol.PathCheckIn, a.id.Credential, a.cfg.Version, req, &resp)
	var se *ServerError
	if errors.As(err, &se) && se.Code == "agent_revoked" {
		a.prog.LastError = "the server refuses this agent: " + se.Message
		_ = a.saveProgress()
	}
	if err != nil {
		return resp, fmt.Errorf("check in: %w", err)
	}
	// The acknowledged results are stored on the server, whatever else this answer holds.
	// The list is not signed: only ids this request carried are dropped, so an answer
	// cannot make the agent delete anything else (or lose results it did not send).
	sent := map[string]bool{}
	for _, r := range req.Results {
		sent[r.ID] = true
	}
	var acked []string
	for _, id := range resp.Acknowledged {
		if sent[id] {
			acked = append(acked, id)
		}
	}
	if err := a.spool.drop(acked); err != nil {
		return resp, err
	}
	return resp, nil
}

// accept verifies a check-in answer's key rotation and assignment list and adopts them.
// A list that does not verify, or is older than the last one accepted, changes nothing.
func (a *Agent) accept(resp protocol.CheckInResponse) error {
	if resp.KeyRotation != nil {
		var rot protocol.KeyRotation
		if err := resp.KeyRotation.Verify(a.key, protocol.KindKeyRotation, &rot); err != nil {
			return fmt.Errorf("key rotation refused: %w", err)
		}
		newKey, err := protocol.DecodeKey(rot.NewKey)
		if err != nil {
			return fmt.Errorf("key rotation refused: %w", err)
		}
		a.id.SigningKey = rot.NewKey
		if err := writeJSONFile(a.cfg.identityPath(), a.id, 0o600); err != nil {
			return fmt.Errorf("save rotated key: %w", err)
		}
		a.log.Info("the server's signing key rotated", "old", protocol.KeyID(a.key), "new", protocol.KeyID(newKey))
		a.key = newKey
	}
	list, err := protocol.VerifyAssignments(resp.Assignments, ed25519.PublicKey(a.key), a.id.ComputerID, a.prog.Sequence, a.prog.Digest)
	if err != nil {
		a.log.Error("assignment list refused; nothing from it will be installed", "err", err)
		return fmt.Errorf("assignment list refused: %w", err)
	}
	if list.Sequence != a.prog.Sequence {
		a.log.Info("new assignment list", "sequence", list.Sequence, "updates", len(list.Items))
	}
	a.prog.Sequence, a.prog.Digest, a.prog.Assignments = list.Sequence, resp.Assignments.DocumentDigest(), list.Items
	return nil
}
