package protocol

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"time"
)

// PathScans is where an agent uploads the result of a scan task.
const PathScans = "/api/v1/agent/scans"

// KindScanTasks is the kind of a signed ScanTaskList.
const KindScanTasks = "scan-tasks"

// MaxScanTaskAge is how old a scan task list may be when the agent sees it: it is made for
// the check-in that carries it, so an older one is a replay.
const MaxScanTaskAge = time.Hour

// ScanTaskList is what a computer is to scan (distributed scanning): subnets it sits on, for
// the scan schedules of its groups. It is signed like an assignment list, because it makes
// the agent send traffic; an agent scans only subnets it has itself reported.
type ScanTaskList struct {
	ComputerID int64      `json:"computer_id"`
	IssuedAt   time.Time  `json:"issued_at"`
	Tasks      []ScanTask `json:"tasks"`
}

// ScanTask is one subnet to scan for one schedule.
type ScanTask struct {
	ScheduleID int64  `json:"schedule_id"`
	Schedule   string `json:"schedule"`
	Target     string `json:"target"` // a subnet from Inventory.Networks, such as 10.1.2.0/24
	Ports      string `json:"ports"`  // as patchday scan --ports takes them
	UDP        string `json:"udp,omitempty"`
	Rate       int    `json:"rate"`             // probes per second at most
	Policy     string `json:"policy,omitempty"` // firewall policy YAML
	Every      int64  `json:"every_seconds"`    // the schedule's interval
}

// ScanReport is the result of a scan task, as the agent uploads it.
type ScanReport struct {
	ScheduleID int64  `json:"schedule_id"`
	Target     string `json:"target"`
	// Result is the scan's result as patchday scan writes it in JSON (internal/scan.Result).
	Result json.RawMessage `json:"result"`
}

// VerifyScanTasks checks a signed scan task list: signature by the trusted key, the computer
// it is for, issued after the last list accepted (lastIssued) and not long before now.
func VerifyScanTasks(s Signed, trusted ed25519.PublicKey, computerID int64, lastIssued, now time.Time) (ScanTaskList, error) {
	var l ScanTaskList
	if err := s.Verify(trusted, KindScanTasks, &l); err != nil {
		return ScanTaskList{}, err
	}
	if l.ComputerID != computerID {
		return ScanTaskList{}, fmt.Errorf("%w: the scan tasks are for computer %d, this is computer %d", ErrBadSignature, l.ComputerID, computerID)
	}
	if !l.IssuedAt.After(lastIssued) || now.Sub(l.IssuedAt) > MaxScanTaskAge {
		return ScanTaskList{}, fmt.Errorf("%w: scan tasks issued at %s (last accepted %s)", ErrReplay, l.IssuedAt.Format(time.RFC3339), lastIssued.Format(time.RFC3339))
	}
	return l, nil
}
