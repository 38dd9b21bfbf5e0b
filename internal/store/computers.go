package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Computer is an enrolled agent's machine.
type Computer struct {
	ID             int64           `json:"id"`
	OrgID          int64           `json:"org_id"`
	Hostname       string          `json:"hostname"`
	MachineID      string          `json:"machine_id"`
	OSID           string          `json:"os_id"`
	OSVersion      string          `json:"os_version"`
	OSName         string          `json:"os_name"`
	Kernel         string          `json:"kernel"`
	Arch           string          `json:"arch"`
	AgentVersion   string          `json:"agent_version"`
	CredentialHash string          `json:"-"`
	InventoryHash  string          `json:"inventory_hash"`
	Health         json.RawMessage `json:"health"`
	HealthDigest   string          `json:"-"`
	Assign         AssignState     `json:"-"`
	EnrollTokenID  *int64          `json:"enroll_token_id,omitempty"`
	EnrolledAt     time.Time       `json:"enrolled_at"`
	LastCheckInAt  *time.Time      `json:"last_checkin_at,omitempty"`
	RevokedAt      *time.Time      `json:"revoked_at,omitempty"`
	RevokedBy      string          `json:"revoked_by,omitempty"`
	Tags           []string        `json:"tags"`
}

// AssignState is the signed assignment list last issued to a computer and what it was built
// from, so that an unchanged list is resent byte for byte instead of rebuilt and re-signed.
type AssignState struct {
	Seq    uint64
	Digest string     // SHA-256 of the list's items
	Doc    string     // the signed list, protocol.Signed as JSON
	Gen    int64      // the organisation's assign_gen it was built at
	Until  *time.Time // rebuild after this time
}

const computerCols = `c.id, c.org_id, c.hostname, c.machine_id, c.os_id, c.os_version, c.os_name, c.kernel, c.arch, c.agent_version,
	c.credential_hash, COALESCE(c.inventory_hash, ''), c.health, c.health_digest, c.assign_seq, c.assign_digest, c.assign_doc,
	c.assign_gen, c.assign_until, c.enroll_token_id, c.enrolled_at, c.last_checkin_at, c.revoked_at, c.revoked_by, c.tags`

func scanComputer(row interface{ Scan(...any) error }, extra ...any) (Computer, error) {
	var c Computer
	var health, tags string
	var seq int64
	dest := append([]any{&c.ID, &c.OrgID, &c.Hostname, &c.MachineID, &c.OSID, &c.OSVersion, &c.OSName, &c.Kernel, &c.Arch,
		&c.AgentVersion, &c.CredentialHash, &c.InventoryHash, &health, &c.HealthDigest, &seq, &c.Assign.Digest,
		&c.Assign.Doc, &c.Assign.Gen, &c.Assign.Until, &c.EnrollTokenID, &c.EnrolledAt, &c.LastCheckInAt, &c.RevokedAt,
		&c.RevokedBy, &tags}, extra...)
	err := row.Scan(dest...)
	c.Tags = []string{}
	if tags != "" {
		c.Tags = strings.Split(tags, ",")
	}
	c.Health = json.RawMessage(health)
	c.Assign.Seq = uint64(seq)
	return c, err
}

// ComputerFacts are the facts an agent reports about its machine.
type ComputerFacts struct {
	Hostname, MachineID, OSID, OSVersion, OSName, Kernel, Arch, AgentVersion string
	Languages                                                                []string
}

// EnrollComputer registers a machine as a new computer; or, when previousHash is the
// credential hash of an active computer of the organisation (an agent enrolling again with
// the credential it holds), gives that computer the new credential and starts a new
// sequence of assignment lists for it. A machine id alone never rebinds a computer: anyone
// on the machine can read it, and a revoked computer stays revoked.
func (tx *Tx) EnrollComputer(ctx context.Context, orgID int64, f ComputerFacts, credentialHash string, tokenID int64, previousHash string) (Computer, error) {
	now := Now()
	var token any // NULL when enrolled without a token (tests, imports)
	if tokenID > 0 {
		token = tokenID
	}
	var id int64
	err := ErrNotFound
	if previousHash != "" {
		err = tx.queryRow(ctx, `SELECT id FROM computers WHERE org_id = $1 AND credential_hash = $2 AND revoked_at IS NULL`,
			orgID, previousHash).Scan(&id)
		err = mapErr(err)
	}
	switch {
	case err == nil:
		// assign_digest '' makes the next list a new sequence number, above the one the
		// enrollment answer gives the agent as its floor.
		_, err = tx.exec(ctx, `UPDATE computers SET hostname = $2, os_id = $3, os_version = $4, os_name = $5, kernel = $6,
			arch = $7, agent_version = $8, credential_hash = $9, enroll_token_id = $10, assign_gen = -1, assign_digest = ''
			WHERE id = $1`, id, f.Hostname, f.OSID, f.OSVersion, f.OSName, f.Kernel, f.Arch, f.AgentVersion, credentialHash, token)
	case errors.Is(err, ErrNotFound):
		err = tx.queryRow(ctx, `INSERT INTO computers (org_id, hostname, machine_id, os_id, os_version, os_name, kernel, arch,
			agent_version, credential_hash, enroll_token_id, enrolled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			RETURNING id`, orgID, f.Hostname, f.MachineID, f.OSID, f.OSVersion, f.OSName, f.Kernel, f.Arch, f.AgentVersion,
			credentialHash, token, now).Scan(&id)
	}
	if err != nil {
		return Computer{}, fmt.Errorf("enroll computer %s: %w", f.Hostname, mapErr(err))
	}
	return tx.Computer(ctx, orgID, id)
}

// Computer finds an organisation's computer by id.
func (r Reader) Computer(ctx context.Context, orgID, id int64) (Computer, error) {
	c, err := scanComputer(r.queryRow(ctx, `SELECT `+computerCols+` FROM computers c WHERE c.org_id = $1 AND c.id = $2`, orgID, id))
	if err != nil {
		return Computer{}, fmt.Errorf("computer %d: %w", id, mapErr(err))
	}
	return c, nil
}

// ComputerByHostname finds an organisation's newest computer with this host name.
func (r Reader) ComputerByHostname(ctx context.Context, orgID int64, hostname string) (Computer, error) {
	c, err := scanComputer(r.queryRow(ctx, `SELECT `+computerCols+` FROM computers c WHERE c.org_id = $1 AND c.hostname = $2
		ORDER BY c.id DESC LIMIT 1`, orgID, hostname))
	if err != nil {
		return Computer{}, fmt.Errorf("computer %s: %w", hostname, mapErr(err))
	}
	return c, nil
}

// ComputerByCredential finds the computer an agent credential belongs to, with its
// organisation's assignment generation.
func (r Reader) ComputerByCredential(ctx context.Context, hash string) (Computer, int64, error) {
	var gen int64
	c, err := scanComputer(r.queryRow(ctx, `SELECT `+computerCols+`, o.assign_gen FROM computers c JOIN orgs o ON o.id = c.org_id
		WHERE c.credential_hash = $1`, hash), &gen)
	if err != nil {
		return Computer{}, 0, fmt.Errorf("computer by credential: %w", mapErr(err))
	}
	return c, gen, nil
}

// ComputerFilter selects computers; zero fields match everything.
type ComputerFilter struct {
	Text       string // in host name, OS name or machine id
	NotSeenFor time.Duration
	Revoked    *bool
	Page
}

// ListComputers lists an organisation's computers in id order.
func (r Reader) ListComputers(ctx context.Context, orgID int64, f ComputerFilter) ([]Computer, error) {
	// A time beyond every check-in matches all computers; a NULL would need a typed cast.
	silentSince := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	if f.NotSeenFor > 0 {
		silentSince = Now().Add(-f.NotSeenFor)
	}
	revoked := -1
	if f.Revoked != nil {
		revoked = 0
		if *f.Revoked {
			revoked = 1
		}
	}
	rows, err := r.query(ctx, `SELECT `+computerCols+` FROM computers c WHERE c.org_id = $1 AND c.id > $2
		AND ($3 = '' OR lower(c.hostname || ' ' || c.os_name || ' ' || c.machine_id) LIKE $3 ESCAPE '\')
		AND COALESCE(c.last_checkin_at, c.enrolled_at) < $4
		AND ($5 = -1 OR ($5 = 1) = (c.revoked_at IS NOT NULL))
		ORDER BY c.id LIMIT $6`, orgID, f.After, containsPattern(f.Text), silentSince, revoked, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list computers: %w", err)
	}
	defer rows.Close()
	var out []Computer
	for rows.Next() {
		c, err := scanComputer(rows)
		if err != nil {
			return nil, fmt.Errorf("list computers: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RevokeComputer revokes a computer's agent credential: the agent is refused from then on.
func (tx *Tx) RevokeComputer(ctx context.Context, orgID, id int64, by string) (Computer, error) {
	res, err := tx.exec(ctx, `UPDATE computers SET revoked_at = COALESCE(revoked_at, $3), revoked_by = CASE WHEN revoked_at IS NULL THEN $4 ELSE revoked_by END
		WHERE org_id = $1 AND id = $2`, orgID, id, Now(), by)
	if err != nil {
		return Computer{}, fmt.Errorf("revoke computer %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Computer{}, fmt.Errorf("revoke computer %d: %w", id, ErrNotFound)
	}
	return tx.Computer(ctx, orgID, id)
}

// DeleteComputer deletes a revoked computer with everything recorded of it (states,
// history, results, memberships, networks); its scans stay, without the link. A computer
// that is not revoked gives ErrConflict: revoke it first, so that its agent is refused.
func (tx *Tx) DeleteComputer(ctx context.Context, orgID, id int64) error {
	res, err := tx.exec(ctx, `DELETE FROM computers WHERE org_id = $1 AND id = $2 AND revoked_at IS NOT NULL`, orgID, id)
	if err != nil {
		return fmt.Errorf("delete computer %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	if _, err := tx.Computer(ctx, orgID, id); err != nil {
		return err
	}
	return fmt.Errorf("computer %d is not revoked: revoke it first: %w", id, ErrConflict)
}

// SaveInventory stores an inventory by its hash; storing a known hash again is a no-op.
func (tx *Tx) SaveInventory(ctx context.Context, hash string, compressed []byte, packages int) error {
	_, err := tx.exec(ctx, `INSERT INTO inventories (hash, data, packages, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (hash) DO NOTHING`, hash, compressed, packages, Now())
	if err != nil {
		return fmt.Errorf("save inventory %s: %w", hash, err)
	}
	return nil
}

// Inventory loads a stored inventory (compressed) by hash.
func (r Reader) Inventory(ctx context.Context, hash string) ([]byte, error) {
	var b []byte
	if err := r.queryRow(ctx, `SELECT data FROM inventories WHERE hash = $1`, hash).Scan(&b); err != nil {
		return nil, fmt.Errorf("inventory %s: %w", hash, mapErr(err))
	}
	return b, nil
}

// SetComputerInventory points a computer at a stored inventory and refreshes the facts taken
// from it. The previous inventory stays until DeleteUnusedInventories.
func (tx *Tx) SetComputerInventory(ctx context.Context, id int64, hash string, f ComputerFacts) error {
	if _, err := tx.exec(ctx, `UPDATE computers SET inventory_hash = $2, hostname = $3, machine_id = $4, os_id = $5,
		os_version = $6, os_name = $7, kernel = $8, arch = $9, agent_version = $10, languages = $11, inventory_at = $12 WHERE id = $1`,
		id, hash, f.Hostname, f.MachineID, f.OSID, f.OSVersion, f.OSName, f.Kernel, f.Arch, f.AgentVersion,
		strings.Join(f.Languages, ","), Now()); err != nil {
		return fmt.Errorf("set inventory of computer %d: %w", id, err)
	}
	return nil
}

// DeleteUnusedInventories deletes inventories no computer uses that were stored before
// olderThan. They are kept a while after their computer moved on, so that other server
// nodes can still read the package list they must take out of their index.
func (tx *Tx) DeleteUnusedInventories(ctx context.Context, olderThan time.Time) (int64, error) {
	res, err := tx.exec(ctx, `DELETE FROM inventories WHERE created_at < $1
		AND NOT EXISTS (SELECT 1 FROM computers c WHERE c.inventory_hash = inventories.hash)`, olderThan.UTC())
	if err != nil {
		return 0, fmt.Errorf("delete unused inventories: %w", err)
	}
	return res.RowsAffected()
}

// SetComputerHealth stores a computer's health facts and agent version.
func (tx *Tx) SetComputerHealth(ctx context.Context, id int64, health []byte, digest, agentVersion string) error {
	if _, err := tx.exec(ctx, `UPDATE computers SET health = $2, health_digest = $3, agent_version = $4 WHERE id = $1`,
		id, string(health), digest, agentVersion); err != nil {
		return fmt.Errorf("set health of computer %d: %w", id, err)
	}
	return nil
}

// TouchComputers records check-in times: a few hundred computers per statement, since a
// flush of a busy fleet holds thousands.
func (tx *Tx) TouchComputers(ctx context.Context, seen map[int64]time.Time) error {
	ids := make([]int64, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	const per = 400
	for len(ids) > 0 {
		n := min(per, len(ids))
		var q strings.Builder
		args := make([]any, 0, 2*n)
		q.WriteString(`UPDATE computers SET last_checkin_at = CASE id`)
		for i, id := range ids[:n] {
			if tx.engine == Postgres {
				fmt.Fprintf(&q, " WHEN $%d THEN $%d::timestamptz", 2*i+1, 2*i+2)
			} else {
				q.WriteString(" WHEN ? THEN ?")
			}
			args = append(args, id, seen[id].UTC().Truncate(time.Microsecond))
		}
		q.WriteString(" END WHERE id IN (")
		for i, id := range ids[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			if tx.engine == Postgres {
				fmt.Fprintf(&q, "$%d", len(args)+1)
			} else {
				q.WriteString("?")
			}
			args = append(args, id)
		}
		q.WriteString(")")
		if _, err := tx.exec(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("record check-ins: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}

// SaveAssignState records the list just issued to a computer.
func (tx *Tx) SaveAssignState(ctx context.Context, id int64, a AssignState) error {
	if _, err := tx.exec(ctx, `UPDATE computers SET assign_seq = $2, assign_digest = $3, assign_doc = $4, assign_gen = $5,
		assign_until = $6 WHERE id = $1`, id, int64(a.Seq), a.Digest, a.Doc, a.Gen, a.Until); err != nil {
		return fmt.Errorf("save assignments of computer %d: %w", id, err)
	}
	return nil
}

// BumpAssignGen marks every assignment list of the organisation as possibly stale; each is
// rebuilt at its computer's next check-in. Call it in the transaction of the change.
func (tx *Tx) BumpAssignGen(ctx context.Context, orgID int64) error {
	if _, err := tx.exec(ctx, `UPDATE orgs SET assign_gen = assign_gen + 1 WHERE id = $1`, orgID); err != nil {
		return fmt.Errorf("bump assignment generation: %w", err)
	}
	return nil
}

// ComputerOrg returns the organisation of a computer.
func (r Reader) ComputerOrg(ctx context.Context, id int64) (int64, error) {
	var org int64
	if err := r.queryRow(ctx, `SELECT org_id FROM computers WHERE id = $1`, id).Scan(&org); err != nil {
		return 0, fmt.Errorf("computer %d: %w", id, mapErr(err))
	}
	return org, nil
}
