package server

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/patchday/patchday/internal/auth"
	"github.com/patchday/patchday/internal/catalog"
	"github.com/patchday/patchday/internal/compliance"
	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/rollout"
	"github.com/patchday/patchday/internal/store"
)

// DefaultCheckInInterval is how often agents check in unless configured otherwise.
const DefaultCheckInInterval = 15 * time.Minute

// Limits on what an agent may send.
const (
	maxResultsPerCheckIn = 500
	maxPackages          = 100000
	maxFactLen           = 256
)

var resultIDRE = regexp.MustCompile(`^[A-Za-z0-9-]{8,64}$`)

// authenticateAgent finds the computer of the agent credential in the request.
func (s *Server) authenticateAgent(c *call) error {
	scheme, cred, ok := strings.Cut(c.r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || !auth.LooksLikeSecret(strings.TrimSpace(cred), auth.AgentPrefix) {
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "an agent credential is required"}
	}
	comp, gen, err := s.store.ComputerByCredential(c.r.Context(), auth.HashToken(strings.TrimSpace(cred)))
	if errors.Is(err, store.ErrNotFound) {
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "unknown agent credential; enroll again"}
	} else if err != nil {
		return err
	}
	if comp.RevokedAt != nil {
		return &apiError{Status: http.StatusUnauthorized, Code: "agent_revoked",
			Message: "this computer's credential was revoked at " + comp.RevokedAt.Format(time.RFC3339) + " by " + comp.RevokedBy}
	}
	c.computer, c.assignGen = comp, gen
	c.user.Username = "agent:" + comp.Hostname
	return nil
}

// agentEnroll registers a machine with an enrollment token and returns its credential.
func (s *Server) agentEnroll(c *call) error {
	source := "enroll:" + limitKey(info(c.r.Context()).source)
	if wait := s.failedAuthWait(source); wait > 0 {
		c.w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		return &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many failed enrollments from this address; try again later"}
	}
	var req protocol.EnrollRequest
	if err := decodeLimit(c.w, c.r, &req, protocol.MaxBody); err != nil {
		return err
	}
	if !auth.LooksLikeSecret(req.Token, auth.EnrollPrefix) {
		s.allowLogin(source)
		return errInvalid("token", "must be an enrollment token (pde_...) from `patchday enroll-token create`")
	}
	// A token that cannot enroll is refused before any heavy work, and before the
	// evaluator's lock and the write transaction are taken.
	if err := s.store.CheckEnrollToken(c.r.Context(), auth.HashToken(req.Token), s.cfg.Now()); err != nil {
		if errors.Is(err, store.ErrTokenUnknown) || errors.Is(err, store.ErrTokenRevoked) ||
			errors.Is(err, store.ErrTokenExpired) || errors.Is(err, store.ErrTokenUsedUp) {
			s.allowLogin(source)
			return &apiError{Status: http.StatusUnauthorized, Code: "enrollment_refused", Field: "token", Message: err.Error()}
		}
		return err
	}
	inv := &req.Inventory
	if err := checkInventory(inv); err != nil {
		return err
	}
	invHash := inv.Hash()
	blob, err := compliance.EncodeInventory(inv)
	if err != nil {
		return err
	}
	health, digest, err := healthDigest(req.Health)
	if err != nil {
		return err
	}
	if err := checkFact("agent_version", req.AgentVersion); err != nil {
		return err
	}
	secret, _, credHash := auth.NewSecret(auth.AgentPrefix)
	ctx := c.r.Context()
	var comp store.Computer
	var org store.Org
	// The evaluator's lock before the transaction, always in this order; the computer it
	// evaluates is known inside the transaction.
	ic := s.eval.Inventory(store.Computer{}, inv, invHash)
	defer ic.Release()
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		tok, err := tx.UseEnrollToken(ctx, auth.HashToken(req.Token), s.cfg.Now())
		if err != nil {
			return err
		}
		if org, err = tx.Org(ctx, tok.OrgID); err != nil {
			return err
		}
		f := factsOf(inv, req.AgentVersion)
		prev := ""
		if auth.LooksLikeSecret(req.PreviousCredential, auth.AgentPrefix) {
			prev = auth.HashToken(req.PreviousCredential)
		}
		if comp, err = tx.EnrollComputer(ctx, tok.OrgID, f, credHash, tok.ID, prev); err != nil {
			return err
		}
		if err := tx.SaveInventory(ctx, invHash, blob, len(inv.Packages)); err != nil {
			return err
		}
		if err := tx.SetComputerInventory(ctx, comp.ID, invHash, f); err != nil {
			return err
		}
		if err := tx.SetComputerNetworks(ctx, comp.ID, inv.Networks); err != nil {
			return err
		}
		if err := tx.SetComputerHealth(ctx, comp.ID, health, digest, req.AgentVersion); err != nil {
			return err
		}
		ic.For(comp)
		if _, err := ic.Write(ctx, tx); err != nil {
			return err
		}
		if comp, err = tx.Computer(ctx, tok.OrgID, comp.ID); err != nil {
			return err
		}
		if err := rollout.RefreshComputer(ctx, tx, comp); err != nil {
			return err
		}
		for _, name := range tok.Groups {
			g, err := tx.GroupByName(ctx, tok.OrgID, name)
			if errors.Is(err, store.ErrNotFound) || err == nil && g.Rule != "" {
				s.log.Warn("enrollment token names a group that is gone or dynamic", "token", tok.Name, "group", name)
				continue
			} else if err != nil {
				return err
			}
			if err := tx.AddGroupMember(ctx, g.ID, comp.ID, "enroll-token:"+tok.Name); err != nil {
				return err
			}
		}
		if _, err := tx.SyncApprovals(ctx, tok.OrgID, 0, comp.ID); err != nil {
			return err
		}
		c.user.Username = "enroll-token:" + tok.Name
		return c.audit(tx, tok.OrgID, "computer.enroll", "computer", itoa(comp.ID),
			map[string]any{"hostname": inv.Hostname, "machine_id": inv.MachineID, "enroll_token_id": tok.ID})
	})
	switch {
	case errors.Is(err, store.ErrTokenUnknown), errors.Is(err, store.ErrTokenRevoked),
		errors.Is(err, store.ErrTokenExpired), errors.Is(err, store.ErrTokenUsedUp):
		s.allowLogin(source)
		return &apiError{Status: http.StatusUnauthorized, Code: "enrollment_refused", Field: "token", Message: err.Error()}
	case err != nil:
		return err
	}
	ic.Apply()
	s.log.Info("computer enrolled", "org", org.Slug, "computer_id", comp.ID, "hostname", comp.Hostname)
	writeJSON(c.w, http.StatusCreated, protocol.EnrollResponse{
		ComputerID: comp.ID, Org: org.Slug, Credential: secret,
		SigningKey:      protocol.EncodeKey(s.cfg.SigningKey.Public().(ed25519.PublicKey)),
		CheckInInterval: int(s.cfg.CheckInInterval / time.Second),
		Sequence:        comp.Assign.Seq,
	})
	return nil
}

// checkInResponse is protocol.CheckInResponse with the signed list kept as the bytes stored,
// so an unchanged list is sent without being parsed and marshalled again.
type checkInResponse struct {
	NeedInventory bool             `json:"need_inventory"`
	Acknowledged  []string         `json:"acknowledged,omitempty"`
	Assignments   json.RawMessage  `json:"assignments"`
	KeyRotation   *protocol.Signed `json:"key_rotation,omitempty"`
	NextCheckIn   int              `json:"next_checkin"`
	ScanTasks     *protocol.Signed `json:"scan_tasks,omitempty"`
}

// agentCheckIn takes an agent's health, results and (when asked) inventory, and answers
// with its signed assignment list. A check-in that changes nothing writes nothing but its
// time, which is batched.
func (s *Server) agentCheckIn(c *call) error {
	if wait := s.agents.wait(itoa(c.computer.ID), true); wait > 0 {
		c.w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		return &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many check-ins from this computer; try again later"}
	}
	var req protocol.CheckIn
	if err := decodeLimit(c.w, c.r, &req, protocol.MaxBody); err != nil {
		return err
	}
	comp := c.computer
	now := s.cfg.Now()
	if req.Inventory != nil {
		if err := checkInventory(req.Inventory); err != nil {
			return err
		}
		if h := req.Inventory.Hash(); h != req.InventoryHash {
			return errInvalid("inventory_hash", "is %s, but the inventory sent hashes to %s", req.InventoryHash, h)
		}
	}
	if len(req.Results) > maxResultsPerCheckIn {
		return errInvalid("results", "must hold at most %d results; send the rest at the next check-in", maxResultsPerCheckIn)
	}
	for i, r := range req.Results {
		if err := checkResult(r); err != nil {
			return errInvalid(fmt.Sprintf("results[%d].%s", i, err.Field), "%s", err.Message)
		}
	}
	if err := checkFact("agent_version", req.AgentVersion); err != nil {
		return err
	}
	health, digest, err := healthDigest(req.Health)
	if err != nil {
		return err
	}
	resp := checkInResponse{NeedInventory: req.Inventory == nil && req.InventoryHash != comp.InventoryHash}
	healthChanged := digest != comp.HealthDigest || req.AgentVersion != comp.AgentVersion
	stale := comp.Assign.Doc == "" || comp.Assign.Gen != c.assignGen || (comp.Assign.Until != nil && !now.Before(*comp.Assign.Until))
	doc := comp.Assign.Doc
	// The first check-in is recorded at once, so a new machine does not look silent until
	// the next batch; later ones go through the batch.
	first := comp.LastCheckInAt == nil
	if req.Inventory != nil || healthChanged || len(req.Results) > 0 || stale || first {
		var blob []byte
		if req.Inventory != nil {
			if blob, err = compliance.EncodeInventory(req.Inventory); err != nil {
				return err
			}
		}
		ctx := c.r.Context()
		var ic *compliance.InventoryChange
		if req.Inventory != nil {
			// The evaluator's lock before the transaction, always in this order.
			ic = s.eval.Inventory(comp, req.Inventory, req.InventoryHash)
			defer ic.Release()
		}
		err := s.store.Update(ctx, func(tx *store.Tx) error {
			resp.Acknowledged = resp.Acknowledged[:0]
			rebuild := stale
			if req.Inventory != nil {
				if err := tx.SaveInventory(ctx, req.InventoryHash, blob, len(req.Inventory.Packages)); err != nil {
					return err
				}
				if err := tx.SetComputerInventory(ctx, comp.ID, req.InventoryHash, factsOf(req.Inventory, req.AgentVersion)); err != nil {
					return err
				}
				if err := tx.SetComputerNetworks(ctx, comp.ID, req.Inventory.Networks); err != nil {
					return err
				}
				changed, err := ic.Write(ctx, tx)
				if err != nil {
					return err
				}
				rebuild = rebuild || changed
				// Its facts may have changed: so may its dynamic groups.
				fresh, err := tx.Computer(ctx, comp.OrgID, comp.ID)
				if err != nil {
					return err
				}
				if err := rollout.RefreshComputer(ctx, tx, fresh); err != nil {
					return err
				}
			}
			if healthChanged {
				if err := tx.SetComputerHealth(ctx, comp.ID, health, digest, req.AgentVersion); err != nil {
					return err
				}
				if !req.Health.RebootRequired {
					if err := tx.ClearPendingReboot(ctx, comp.OrgID, comp.ID); err != nil {
						return err
					}
				}
			}
			for _, r := range req.Results {
				stored, err := tx.RecordResult(ctx, storeResult(comp, r, now))
				if errors.Is(err, store.ErrUnknownUpdate) {
					// Acknowledged all the same: resending it would never help.
					s.log.Warn("result for an unknown update", "computer_id", comp.ID, "update_id", r.UpdateID)
				} else if err != nil {
					return err
				}
				resp.Acknowledged = append(resp.Acknowledged, r.ID)
				if stored && r.Status == protocol.StatusFailed {
					halts, err := tx.CheckHalts(ctx, comp.OrgID, comp.ID, r.UpdateID)
					if err != nil {
						return err
					}
					for _, h := range halts {
						s.log.Warn("rollout halted", "update", h.Update, "group", h.Group, "failures", h.Failures, "attempts", h.Attempts)
					}
				}
			}
			if first {
				if err := tx.TouchComputers(ctx, map[int64]time.Time{comp.ID: now}); err != nil {
					return err
				}
			}
			if len(req.Results) > 0 || rebuild {
				doc, err = s.issueAssignments(c, tx, comp, now)
				return err
			}
			return nil
		})
		if err != nil {
			return err
		}
		if ic != nil {
			ic.Apply()
		}
		s.reports.changed(comp.OrgID)
	}
	resp.Assignments = json.RawMessage(doc)
	if req.KeyID != "" && req.KeyID != protocol.KeyID(s.cfg.SigningKey.Public().(ed25519.PublicKey)) {
		rot, err := s.keyRotation(req.KeyID)
		if err != nil {
			return err
		}
		resp.KeyRotation = rot
	}
	if resp.ScanTasks, err = s.scanTasks(c, comp, now); err != nil {
		return err
	}
	resp.NextCheckIn = s.nextCheckIn(comp.ID, now)
	s.seen.note(comp.ID, now)
	writeJSON(c.w, http.StatusOK, resp)
	return nil
}

// issueAssignments builds the computer's assignment list and, when its items changed, signs
// it under the next sequence number. An unchanged list is kept byte for byte, so the agent
// sees the same sequence and document.
func (s *Server) issueAssignments(c *call, tx *store.Tx, comp store.Computer, now time.Time) (string, error) {
	ctx := c.r.Context()
	// Read again inside the transaction: another node may have issued a list meanwhile.
	cur, err := tx.Computer(ctx, comp.OrgID, comp.ID)
	if err != nil {
		return "", err
	}
	pending, err := tx.PendingAssignments(ctx, comp.ID)
	if err != nil {
		return "", err
	}
	pending, withheld, err := tx.OfferLimited(ctx, comp.OrgID, comp.ID, pending, now)
	if err != nil {
		return "", err
	}
	windows, until, err := s.windowsOf(ctx, tx, comp.ID, now)
	if err != nil {
		return "", err
	}
	if withheld {
		// A rollout limit holds some back: look again at the next check-in.
		soon := now.UTC()
		until = &soon
	}
	items := make([]protocol.Assignment, 0, len(pending))
	for _, p := range pending {
		a, err := assignmentOf(p)
		if err != nil {
			return "", err
		}
		a.Windows = windows
		items = append(items, a)
	}
	b, err := json.Marshal(items)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	st := store.AssignState{Seq: cur.Assign.Seq, Digest: hex.EncodeToString(sum[:]), Doc: cur.Assign.Doc, Gen: c.assignGen, Until: until}
	if st.Digest != cur.Assign.Digest || cur.Assign.Doc == "" {
		st.Seq++
		signed, err := protocol.Sign(s.cfg.SigningKey, protocol.KindAssignments, protocol.AssignmentList{
			ComputerID: comp.ID, Sequence: st.Seq, IssuedAt: now.UTC(), Items: items})
		if err != nil {
			return "", err
		}
		doc, err := json.Marshal(signed)
		if err != nil {
			return "", err
		}
		st.Doc = string(doc)
	}
	if err := tx.SaveAssignState(ctx, comp.ID, st); err != nil {
		return "", err
	}
	return st.Doc, nil
}

// windowsOf gives the maintenance windows of a computer for the coming week: the union of
// its groups' windows (none: any time), and when the list must be rebuilt to look ahead.
func (s *Server) windowsOf(ctx context.Context, tx *store.Tx, computerID int64, now time.Time) ([]protocol.Window, *time.Time, error) {
	groups, err := tx.ComputerGroups(ctx, computerID)
	if err != nil {
		return nil, nil, err
	}
	var all []rollout.Window
	scheduled := false
	for _, g := range groups {
		if g.Windows == "" {
			continue
		}
		scheduled = true
		sched, err := rollout.ParseSchedule(g.Windows, g.Timezone)
		if err != nil {
			// Stored schedules were checked on the way in; one that no longer parses
			// (a time zone gone from the system) allows nothing rather than everything.
			s.log.Warn("maintenance windows do not parse", "group", g.Name, "err", err)
			continue
		}
		ws := sched.Windows(now, now.Add(7*24*time.Hour))
		if len(ws) == 0 {
			// A monthly window: none this week, but the next one says "not before".
			if w, ok := sched.Next(now); ok {
				ws = []rollout.Window{w}
			}
		}
		all = append(all, ws...)
	}
	if scheduled && len(all) == 0 {
		// Windows exist but none can be found: install only past the deadline.
		all = []rollout.Window{{Start: time.Unix(0, 0).UTC(), End: time.Unix(0, 0).UTC()}}
	}
	if len(all) == 0 {
		return nil, nil, nil
	}
	merged := rollout.Merge(all)
	out := make([]protocol.Window, len(merged))
	for i, w := range merged {
		out[i] = protocol.Window{Start: w.Start, End: w.End}
	}
	until := now.Add(24 * time.Hour).UTC()
	return out, &until, nil
}

// assignmentOf turns a pending assignment into its wire form.
func assignmentOf(p store.PendingAssignment) (protocol.Assignment, error) {
	var d catalog.UpdateDef
	if err := json.Unmarshal(p.Definition, &d); err != nil {
		return protocol.Assignment{}, fmt.Errorf("update %s: definition: %w", p.Name, err)
	}
	a := protocol.Assignment{UpdateID: p.UpdateID, Name: p.Name, Installer: p.Installer, Reboot: d.Reboot, Deadline: p.Deadline}
	switch p.Installer {
	case "deb", "artifact":
		a.Payload = &protocol.PayloadRef{Digest: p.Digest, Size: p.Size, URL: "/payloads/sha256/" + p.Digest}
		a.Package, a.Version = p.DebPackage, p.DebVersion
		if p.Installer == "artifact" {
			a.Command = d.Installer.Command
			timeout := 30 * time.Minute
			if d.Installer.Timeout != "" {
				t, err := time.ParseDuration(d.Installer.Timeout)
				if err != nil {
					return protocol.Assignment{}, fmt.Errorf("update %s: timeout: %w", p.Name, err)
				}
				timeout = t
			}
			a.Timeout = int64(timeout / time.Second)
		}
	case "apt":
		a.Package, a.Version = d.Installer.Package, d.Installer.Version
	}
	return a, nil
}

// keyRotation vouches for the current signing key with the older key an agent trusts.
func (s *Server) keyRotation(trusted string) (*protocol.Signed, error) {
	for _, old := range s.cfg.PreviousSigningKeys {
		if protocol.KeyID(old.Public().(ed25519.PublicKey)) != trusted {
			continue
		}
		rot, err := protocol.Sign(old, protocol.KindKeyRotation, protocol.KeyRotation{
			NewKey: protocol.EncodeKey(s.cfg.SigningKey.Public().(ed25519.PublicKey))})
		if err != nil {
			return nil, err
		}
		return &rot, nil
	}
	return nil, &apiError{Status: http.StatusConflict, Code: "unknown_signing_key", Field: "key_id",
		Message: "the agent trusts signing key " + trusted + ", which this server neither holds nor can vouch for; enroll the agent again"}
}

// nextCheckIn spreads agents over the interval: each computer has a fixed phase in it, so
// after an outage the fleet returns to an even spread instead of checking in all at once.
// The answer lies between half and one and a half intervals from now.
func (s *Server) nextCheckIn(id int64, now time.Time) int {
	iv := int64(s.cfg.CheckInInterval / time.Second)
	if iv <= 1 {
		return 1
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	sum := sha256.Sum256(b[:])
	phase := int64(binary.BigEndian.Uint64(sum[:8]) % uint64(iv))
	t := now.Unix() + iv/2
	next := t - t%iv + phase
	if next < t {
		next += iv
	}
	return int(next - now.Unix())
}

// seenBatch collects check-in times and writes them in batches: the last check-in time is
// for reports, and one write per check-in would make the database the limit of the fleet.
type seenBatch struct {
	mu   sync.Mutex
	seen map[int64]time.Time
}

func (b *seenBatch) note(id int64, at time.Time) {
	b.mu.Lock()
	if b.seen == nil {
		b.seen = map[int64]time.Time{}
	}
	b.seen[id] = at
	b.mu.Unlock()
}

func (b *seenBatch) take() map[int64]time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.seen
	b.seen = nil
	return m
}

// FlushCheckIns writes the check-in times noted since the last flush. Serve calls it every
// few seconds and at shutdown.
func (s *Server) FlushCheckIns(ctx context.Context) error {
	m := s.seen.take()
	if len(m) == 0 {
		return nil
	}
	err := s.store.Update(ctx, func(tx *store.Tx) error { return tx.TouchComputers(ctx, m) })
	if err != nil {
		// Keep them for the next flush, unless newer times arrived meanwhile.
		for id, at := range m {
			s.seen.mu.Lock()
			if s.seen.seen == nil {
				s.seen.seen = map[int64]time.Time{}
			}
			if old, ok := s.seen.seen[id]; !ok || old.Before(at) {
				s.seen.seen[id] = at
			}
			s.seen.mu.Unlock()
		}
		return fmt.Errorf("record check-ins: %w", err)
	}
	return nil
}

func checkFact(field, v string) error {
	if len(v) > maxFactLen {
		return errInvalid(field, "must be at most %d bytes", maxFactLen)
	}
	return nil
}

// checkInventory bounds an inventory and normalises it.
func checkInventory(inv *protocol.Inventory) error {
	if strings.TrimSpace(inv.Hostname) == "" {
		return errInvalid("inventory.hostname", "is required")
	}
	for field, v := range map[string]string{"hostname": inv.Hostname, "machine_id": inv.MachineID, "os_id": inv.OSID,
		"os_version": inv.OSVersion, "os_codename": inv.OSCodename, "os_name": inv.OSName, "kernel": inv.Kernel, "arch": inv.Arch} {
		if err := checkFact("inventory."+field, v); err != nil {
			return err
		}
	}
	if len(inv.Packages) > maxPackages {
		return errInvalid("inventory.packages", "must hold at most %d packages", maxPackages)
	}
	if len(inv.Languages) > 256 {
		return errInvalid("inventory.languages", "must hold at most 256 languages")
	}
	if err := checkNetworks(inv.Networks); err != nil {
		return err
	}
	for i, p := range inv.Packages {
		if p.Name == "" || len(p.Name) > maxFactLen || len(p.Version) > maxFactLen || len(p.Arch) > 64 || len(p.Source) > maxFactLen {
			return errInvalid(fmt.Sprintf("inventory.packages[%d]", i), "needs a name, and name, version and source of at most %d bytes", maxFactLen)
		}
	}
	inv.Normalize()
	return nil
}

func checkResult(r protocol.Result) *apiError {
	switch {
	case !resultIDRE.MatchString(r.ID):
		return &apiError{Field: "id", Message: "must be 8-64 characters of A-Z, a-z, 0-9 and '-'"}
	case r.Status != protocol.StatusInstalled && r.Status != protocol.StatusFailed:
		return &apiError{Field: "status", Message: "must be installed or failed"}
	case r.UpdateID <= 0:
		return &apiError{Field: "update_id", Message: "must be an update id"}
	case len(r.Log) > protocol.MaxResultLog:
		return &apiError{Field: "log", Message: fmt.Sprintf("must be at most %d bytes (the tail of the log)", protocol.MaxResultLog)}
	case len(r.Error) > 4096 || len(r.Version) > maxFactLen:
		return &apiError{Field: "error", Message: "must be at most 4096 bytes"}
	case r.FinishedAt.Before(r.StartedAt):
		return &apiError{Field: "finished_at", Message: "must not be before started_at"}
	}
	return nil
}

func storeResult(comp store.Computer, r protocol.Result, now time.Time) store.InstallResult {
	// The agent's clock decides nothing the server keeps: no time after the result arrived.
	if r.FinishedAt.After(now) {
		r.FinishedAt = now
	}
	if r.StartedAt.After(r.FinishedAt) {
		r.StartedAt = r.FinishedAt
	}
	return store.InstallResult{ComputerID: comp.ID, ID: r.ID, OrgID: comp.OrgID, UpdateID: r.UpdateID, Sequence: r.Sequence,
		Status: r.Status, Version: r.Version, ExitCode: r.ExitCode, Error: r.Error, Log: r.Log, RebootRequired: r.RebootRequired,
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}
}

func factsOf(inv *protocol.Inventory, agentVersion string) store.ComputerFacts {
	return store.ComputerFacts{Hostname: inv.Hostname, MachineID: inv.MachineID, OSID: inv.OSID, OSVersion: inv.OSVersion,
		OSName: inv.OSName, Kernel: inv.Kernel, Arch: inv.Arch, AgentVersion: agentVersion, Languages: inv.Languages}
}

// healthDigest marshals health facts and hashes them, to write them only when they change.
func healthDigest(h protocol.Health) ([]byte, string, error) {
	if len(h.RebootPackages) > 1000 || len(h.Antivirus) > 16 || len(h.Firewall.Tools) > 16 || len(h.Firewall.Detail) > 1024 {
		return nil, "", errInvalid("health", "holds too many entries")
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:8]), nil
}
