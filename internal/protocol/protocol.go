// Package protocol holds the wire types of the agent protocol (JSON over HTTPS under
// /api/v1/agent), shared by the agent and the server, and the signing of assignment lists.
//
// The agent trusts signatures, not the transport: every assignment list is signed with the
// server's ed25519 key, which the agent pins at enrollment, and carries a sequence number that
// only grows, so a mirror, a proxy or a man in the middle can neither invent an assignment nor
// replay an old one.
package protocol

import "time"

// Paths of the agent API.
const (
	PathEnroll  = "/api/v1/agent/enroll"
	PathCheckIn = "/api/v1/agent/checkin"
)

// MaxBody bounds every agent request body: an inventory of a few thousand packages is a few
// hundred KiB.
const MaxBody = 8 << 20

// EnrollRequest registers a machine with an organisation's enrollment token.
type EnrollRequest struct {
	Token string `json:"token"`
	// PreviousCredential is the credential the agent holds from an earlier enrollment, if
	// any: with it the server keeps the same computer, else it makes a new one.
	PreviousCredential string    `json:"previous_credential,omitempty"`
	AgentVersion       string    `json:"agent_version"`
	Inventory          Inventory `json:"inventory"`
	Health             Health    `json:"health"`
}

// EnrollResponse gives the agent its identity and the key that signs its assignments.
type EnrollResponse struct {
	ComputerID int64  `json:"computer_id"`
	Org        string `json:"org"`
	// Credential is the agent's bearer secret; the server keeps only its hash.
	Credential string `json:"credential"`
	// SigningKey is the server's ed25519 public key, base64 (standard, padded).
	SigningKey string `json:"signing_key"`
	// CheckInInterval is the server's suggested interval in seconds.
	CheckInInterval int `json:"checkin_interval"`
	// Sequence is the sequence of the last list issued to this computer: the agent accepts
	// only lists above it, so lists recorded before a re-enrollment cannot be replayed.
	Sequence uint64 `json:"sequence"`
}

// CheckIn is what the agent sends at every check-in.
type CheckIn struct {
	AgentVersion  string `json:"agent_version"`
	InventoryHash string `json:"inventory_hash"`
	// Inventory is sent only when the previous answer asked for it (NeedInventory).
	Inventory *Inventory `json:"inventory,omitempty"`
	Health    Health     `json:"health"`
	// Results are install outcomes not yet acknowledged; the server ignores ids it has seen.
	Results []Result `json:"results,omitempty"`
	// Sequence is the sequence number of the last assignment list the agent accepted.
	Sequence uint64 `json:"sequence"`
	// KeyID names the signing key the agent trusts, so the server can send a rotation.
	KeyID string `json:"key_id"`
}

// CheckInResponse is the server's answer.
type CheckInResponse struct {
	// NeedInventory asks for the whole inventory at the next check-in (now, if the agent
	// wants): the server does not know InventoryHash.
	NeedInventory bool `json:"need_inventory"`
	// Acknowledged lists the result ids the server has stored; the agent drops them.
	Acknowledged []string `json:"acknowledged,omitempty"`
	// Assignments is the signed list of what to install.
	Assignments Signed `json:"assignments"`
	// KeyRotation, when present, is a new signing key vouched for by the key the agent
	// trusts; the agent verifies it and pins the new key.
	KeyRotation *Signed `json:"key_rotation,omitempty"`
	// NextCheckIn is when to check in next, in seconds from now; the server spreads
	// machines out over the interval.
	NextCheckIn int `json:"next_checkin"`
	// ScanTasks, when present, is a signed ScanTaskList: subnets to scan now.
	ScanTasks *Signed `json:"scan_tasks,omitempty"`
}

// AssignmentList is what a computer must install. It is signed as a whole.
type AssignmentList struct {
	ComputerID int64        `json:"computer_id"`
	Sequence   uint64       `json:"sequence"`
	IssuedAt   time.Time    `json:"issued_at"`
	Items      []Assignment `json:"items"`
}

// Assignment is one update to install.
type Assignment struct {
	UpdateID  int64  `json:"update_id"`
	Name      string `json:"name"`
	Installer string `json:"installer"` // deb, apt, artifact
	// Payload is what to download for deb and artifact updates.
	Payload *PayloadRef `json:"payload,omitempty"`
	// Package and Version: deb, the package and version the payload installs; apt, the
	// package to upgrade and the version to reach at least.
	Package string   `json:"package,omitempty"`
	Version string   `json:"version,omitempty"`
	Command []string `json:"command,omitempty"` // artifact
	Timeout int64    `json:"timeout,omitempty"` // artifact, seconds
	Reboot  string   `json:"reboot,omitempty"`  // never, maybe, always
	// Deadline, when set, is the time after which the update installs even outside a
	// maintenance window.
	Deadline *time.Time `json:"deadline,omitempty"`
	// Windows are the coming maintenance windows; empty means any time.
	Windows []Window `json:"windows,omitempty"`
}

// PayloadRef locates a payload and pins its content.
type PayloadRef struct {
	Digest string `json:"digest"` // SHA-256, hex
	Size   int64  `json:"size"`
	URL    string `json:"url"` // absolute, or relative to the server URL
}

// Window is a maintenance window: installs may start in [Start, End).
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Result states of an install.
const (
	StatusInstalled = "installed"
	StatusFailed    = "failed"
)

// Result is the outcome of one install attempt. ID is made by the agent, so a result sent
// twice (after a lost answer) is stored once.
type Result struct {
	ID             string    `json:"id"`
	UpdateID       int64     `json:"update_id"`
	Sequence       uint64    `json:"sequence"` // of the list the assignment came from
	Status         string    `json:"status"`   // installed or failed
	Version        string    `json:"version,omitempty"`
	ExitCode       int       `json:"exit_code"`
	Error          string    `json:"error,omitempty"`
	Log            string    `json:"log,omitempty"` // the tail, at most MaxResultLog bytes
	RebootRequired bool      `json:"reboot_required"`
	StartedAt      time.Time `json:"started_at"`
	FinishedAt     time.Time `json:"finished_at"`
}

// MaxResultLog bounds the log tail of a result.
const MaxResultLog = 8 << 10

// KeyRotation is the payload of CheckInResponse.KeyRotation.
type KeyRotation struct {
	NewKey string `json:"new_key"` // base64 ed25519 public key
}
