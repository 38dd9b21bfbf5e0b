package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/scan"
	"github.com/patchday/patchday/internal/store"
)

// Limits of scan schedules: agents scan their neighbours, so gently and not too often.
const (
	minScanEvery       = time.Hour
	maxScanEvery       = 90 * 24 * time.Hour
	defaultScanRate    = 200
	maxScanRate        = 10000
	maxScheduledPorts  = 1000
	maxScanPolicyBytes = 64 << 10
	// scanLiveFor: a member that has not checked in for this many check-in intervals is
	// passed over when choosing the scanner of a subnet.
	scanLiveFor = 3
)

type scanScheduleRequest struct {
	Name    *string `json:"name"`
	Group   *string `json:"group"`
	Every   *string `json:"every"` // a duration: 24h, 168h
	Ports   *string `json:"ports"`
	UDP     *string `json:"udp"`
	Rate    *int    `json:"rate"`
	Policy  *string `json:"policy"`
	Enabled *bool   `json:"enabled"`
}

// apply checks the fields present and sets them on sc.
func (s *Server) applyScanSchedule(c *call, sc *store.ScanSchedule, req scanScheduleRequest) error {
	if req.Name != nil {
		if err := checkSlug("name", *req.Name); err != nil {
			return err
		}
		sc.Name = *req.Name
	}
	if req.Group != nil {
		g, err := s.store.GroupByName(c.r.Context(), c.org.ID, *req.Group)
		if errors.Is(err, store.ErrNotFound) {
			return errInvalid("group", "names no group of this organisation (%q)", *req.Group)
		} else if err != nil {
			return err
		}
		sc.GroupID, sc.Group = g.ID, g.Name
	}
	if req.Every != nil {
		d, err := time.ParseDuration(*req.Every)
		if n, ok := strings.CutSuffix(*req.Every, "d"); ok { // days, as people write them: 7d
			var days int
			days, err = strconv.Atoi(n)
			d = time.Duration(days) * 24 * time.Hour
		}
		if err != nil || d < minScanEvery || d > maxScanEvery {
			return errInvalid("every", "must be a duration from 1h to 90d, such as 24h, 12h or 7d")
		}
		sc.Every = d.Truncate(time.Second)
	}
	if req.Ports != nil {
		ports, err := scan.ParsePorts(*req.Ports)
		if err != nil {
			return errInvalid("ports", "%v", err)
		}
		if len(ports) > maxScheduledPorts {
			return errInvalid("ports", "names %d ports; a schedule scans at most %d per address (top100 is a good start)", len(ports), maxScheduledPorts)
		}
		sc.Ports = *req.Ports
	}
	if req.UDP != nil {
		if *req.UDP != "" {
			ports, err := scan.ParsePorts(*req.UDP)
			if err != nil {
				return errInvalid("udp", "%v", err)
			}
			if len(ports) > 100 {
				return errInvalid("udp", "names %d ports; a schedule probes at most 100 UDP ports", len(ports))
			}
		}
		sc.UDP = *req.UDP
	}
	if req.Rate != nil {
		if *req.Rate < 1 || *req.Rate > maxScanRate {
			return errInvalid("rate", "must be from 1 to %d probes per second", maxScanRate)
		}
		sc.Rate = *req.Rate
	}
	if req.Policy != nil {
		if len(*req.Policy) > maxScanPolicyBytes {
			return errInvalid("policy", "must be at most %d bytes", maxScanPolicyBytes)
		}
		if *req.Policy != "" {
			if _, err := scan.ParsePolicy(strings.NewReader(*req.Policy)); err != nil {
				return errInvalid("policy", "%v", err)
			}
		}
		sc.Policy = *req.Policy
	}
	if req.Enabled != nil {
		sc.Enabled = *req.Enabled
	}
	return nil
}

func (s *Server) createScanSchedule(c *call) error {
	var req scanScheduleRequest
	if err := decodeLimit(c.w, c.r, &req, 2*maxScanPolicyBytes); err != nil {
		return err
	}
	switch {
	case req.Name == nil:
		return errInvalid("name", "is required")
	case req.Group == nil:
		return errInvalid("group", "is required: the group whose agents scan their subnets")
	}
	sc := store.ScanSchedule{OrgID: c.org.ID, Every: 24 * time.Hour, Ports: "top100", Rate: defaultScanRate, Enabled: true,
		CreatedBy: c.user.Username}
	if err := s.applyScanSchedule(c, &sc, req); err != nil {
		return err
	}
	return s.saveScanSchedule(c, sc, "scan_schedule.create", http.StatusCreated)
}

func (s *Server) saveScanSchedule(c *call, sc store.ScanSchedule, action string, status int) error {
	ctx := c.r.Context()
	name := sc.Name // sc is the zero value after a failed save
	err := s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if sc, err = tx.SaveScanSchedule(ctx, sc); err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, action, "scan_schedule", sc.Name, map[string]any{"group": sc.Group, "every": sc.Every.String(),
			"ports": sc.Ports, "udp": sc.UDP, "rate": sc.Rate, "policy": sc.Policy != "", "enabled": sc.Enabled})
	})
	if errors.Is(err, store.ErrConflict) {
		return errConflict("a scan schedule named %q exists", name)
	} else if err != nil {
		return err
	}
	s.scanOrgs.forget()
	writeJSON(c.w, status, sc)
	return nil
}

func (s *Server) listScanSchedules(c *call) error {
	scs, err := s.store.ScanSchedules(c.r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	if scs == nil {
		scs = []store.ScanSchedule{}
	}
	writeJSON(c.w, http.StatusOK, listResponse[store.ScanSchedule]{Items: scs})
	return nil
}

func (s *Server) scanScheduleOf(c *call) (store.ScanSchedule, error) {
	name := c.r.PathValue("name")
	sc, err := s.store.ScanSchedule(c.r.Context(), c.org.ID, name)
	if err != nil {
		return sc, storeErr(err, "scan schedule "+quote(name))
	}
	return sc, nil
}

// getScanSchedule answers a schedule with its coverage: the subnets its group's agents sit
// on, how many agents on each, and the schedule's last scan of each (none yet: never
// scanned; older than its interval: due at the next check-in of its scanner).
func (s *Server) getScanSchedule(c *call) error {
	sc, err := s.scanScheduleOf(c)
	if err != nil {
		return err
	}
	subnets, err := s.store.ScheduleCoverage(c.r.Context(), sc)
	if err != nil {
		return err
	}
	if subnets == nil {
		subnets = []store.SubnetCoverage{}
	}
	writeJSON(c.w, http.StatusOK, struct {
		store.ScanSchedule
		Subnets []store.SubnetCoverage `json:"subnets"`
	}{sc, subnets})
	return nil
}

func (s *Server) updateScanSchedule(c *call) error {
	sc, err := s.scanScheduleOf(c)
	if err != nil {
		return err
	}
	var req scanScheduleRequest
	if err := decodeLimit(c.w, c.r, &req, 2*maxScanPolicyBytes); err != nil {
		return err
	}
	if req.Name != nil && *req.Name != sc.Name {
		return errInvalid("name", "cannot change; create a new schedule and delete this one")
	}
	if err := s.applyScanSchedule(c, &sc, req); err != nil {
		return err
	}
	return s.saveScanSchedule(c, sc, "scan_schedule.update", http.StatusOK)
}

func (s *Server) deleteScanSchedule(c *call) error {
	sc, err := s.scanScheduleOf(c)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteScanSchedule(ctx, c.org.ID, sc.ID); err != nil {
			return err
		}
		return c.audit(tx, c.org.ID, "scan_schedule.delete", "scan_schedule", sc.Name, nil)
	})
	if err != nil {
		return storeErr(err, "scan schedule "+quote(sc.Name))
	}
	s.scanOrgs.forget()
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// orgSet caches which organisations have scan schedules, so that the check-ins of the
// others (nearly all, nearly always) cost no query. Other nodes' changes show within
// orgSetTTL.
type orgSet struct {
	mu      sync.Mutex
	ids     map[int64]bool
	fetched time.Time
}

const orgSetTTL = 30 * time.Second

func (o *orgSet) forget() {
	o.mu.Lock()
	o.fetched = time.Time{}
	o.mu.Unlock()
}

func (o *orgSet) has(id int64, now time.Time, load func() ([]int64, error)) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ids == nil || now.Sub(o.fetched) >= orgSetTTL || now.Before(o.fetched) {
		ids, err := load()
		if err != nil {
			return false, err
		}
		o.ids = map[int64]bool{}
		for _, id := range ids {
			o.ids[id] = true
		}
		o.fetched = now
	}
	return o.ids[id], nil
}

// scanTasks signs the scan tasks due for the calling computer, or returns nil when none are.
func (s *Server) scanTasks(c *call, comp store.Computer, now time.Time) (*protocol.Signed, error) {
	ctx := c.r.Context()
	ok, err := s.scanOrgs.has(comp.OrgID, now, func() ([]int64, error) { return s.store.OrgsWithScanSchedules(ctx) })
	if err != nil || !ok {
		return nil, err
	}
	tasks, err := s.store.ScanTasks(ctx, comp, now, now.Add(-scanLiveFor*s.cfg.CheckInInterval))
	if err != nil || len(tasks) == 0 {
		return nil, err
	}
	list := protocol.ScanTaskList{ComputerID: comp.ID, IssuedAt: now.UTC()}
	for _, t := range tasks {
		list.Tasks = append(list.Tasks, protocol.ScanTask{ScheduleID: t.Schedule.ID, Schedule: t.Schedule.Name, Target: t.Target,
			Ports: t.Schedule.Ports, UDP: t.Schedule.UDP, Rate: t.Schedule.Rate, Policy: t.Schedule.Policy, Every: t.Schedule.EverySecs})
	}
	signed, err := protocol.Sign(s.cfg.SigningKey, protocol.KindScanTasks, list)
	if err != nil {
		return nil, err
	}
	return &signed, nil
}

// agentScanReport stores the result of a scan task: only for an enabled schedule of a group
// the computer is in, and only of a subnet the computer reported.
func (s *Server) agentScanReport(c *call) error {
	comp := c.computer
	if wait := s.agents.wait(itoa(comp.ID), true); wait > 0 {
		return &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many requests from this computer; try again later"}
	}
	var rep protocol.ScanReport
	if err := decodeLimit(c.w, c.r, &rep, maxScanBody); err != nil {
		return err
	}
	ctx := c.r.Context()
	scheds, err := s.store.ScanSchedules(ctx, comp.OrgID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(scheds, func(sc store.ScanSchedule) bool { return sc.ID == rep.ScheduleID })
	if i < 0 {
		return errInvalid("schedule_id", "names no scan schedule of this computer's organisation")
	}
	sc := scheds[i]
	if !sc.Enabled {
		// Disabled after the task was given: the admin wants no more of its results.
		return errInvalid("schedule_id", "names the scan schedule %q, which is disabled", sc.Name)
	}
	groups, err := s.store.ComputerGroups(ctx, comp.ID)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(groups, func(g store.Group) bool { return g.ID == sc.GroupID }) {
		return errInvalid("schedule_id", "is the schedule of group %q, which this computer is not in", sc.Group)
	}
	nets, err := s.store.ComputerNetworks(ctx, comp.ID)
	if err != nil {
		return err
	}
	if !slices.Contains(nets, rep.Target) {
		return errInvalid("target", "must be a subnet this computer reported (%s)", strings.Join(nets, ", "))
	}
	var up scanUpload
	dec := json.NewDecoder(bytes.NewReader(rep.Result))
	if err := dec.Decode(&up); err != nil {
		return errInvalid("result", "is not a scan result: %v", err)
	}
	if len(up.Targets) != 1 || up.Targets[0] != rep.Target {
		return errInvalid("result.targets", "must be the task's target %s alone", rep.Target)
	}
	target := netip.MustParsePrefix(rep.Target)
	for i, raw := range up.Findings {
		var f struct {
			Host string `json:"host"`
		}
		if json.Unmarshal(raw, &f) == nil {
			if a, err := netip.ParseAddr(f.Host); err == nil && !target.Contains(a) {
				return errInvalid(fmt.Sprintf("result.findings[%d].host", i), "%s is outside the target %s", f.Host, rep.Target)
			}
		}
	}
	id, cid := sc.ID, comp.ID
	resp, err := s.saveScan(c, comp.OrgID, up, scanOrigin{by: "agent:" + comp.Hostname, scheduleID: &id, computerID: &cid})
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, resp.Scan)
	return nil
}

// checkNetworks checks the subnets an inventory reports: private IPv4, in canonical form,
// at most /22 wide (inventory.PrivateNetworks makes them so).
func checkNetworks(nets []string) error {
	if len(nets) > 16 {
		return errInvalid("inventory.networks", "must hold at most 16 subnets")
	}
	for i, n := range nets {
		p, err := netip.ParsePrefix(n)
		if err != nil || !p.Addr().Is4() || !p.Addr().IsPrivate() || p.Masked() != p || p.Bits() < 22 {
			return errInvalid(fmt.Sprintf("inventory.networks[%d]", i), "must be a private IPv4 subnet of at most 1,024 addresses in canonical form, such as 10.1.2.0/24")
		}
	}
	return nil
}
