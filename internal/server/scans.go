package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchday/patchday/internal/catalog"
	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/scan"
	"github.com/patchday/patchday/internal/store"
)

// maxScanBody bounds an uploaded scan: 100,000 findings of a few hundred bytes.
const maxScanBody = 32 << 20

// scanUpload is a scan result as `patchday scan --upload` sends it (internal/scan.Result).
type scanUpload struct {
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	Targets     []string  `json:"targets"`
	Addresses   int       `json:"addresses"` // how many the targets name (informative)
	Ports       int       `json:"ports"`
	PortSpec    string    `json:"port_spec"` // scan.Result.PortSpec; "" from older scanners
	Interrupted bool      `json:"interrupted"`
	Stats       struct {
		Attempts int `json:"attempts"`
		Open     int `json:"open"`
		Closed   int `json:"closed"`
		Filtered int `json:"filtered"`
		Errors   int `json:"errors"`
	} `json:"stats"`
	Findings []json.RawMessage `json:"findings"`
}

type scanFindingUpload struct {
	Host      string          `json:"host"`
	Port      int             `json:"port"`
	Protocol  string          `json:"protocol"`
	Service   string          `json:"service"`
	Product   string          `json:"product"`
	Version   string          `json:"version"`
	State     string          `json:"state"`
	Violation json.RawMessage `json:"violation"`
}

type scanResponse struct {
	store.Scan
	Findings []store.ScanFinding `json:"findings"`
	// ClosedPorts are the findings of the previous scan of the same targets that are gone.
	ClosedPorts []store.ScanFinding `json:"closed_ports,omitempty"`
}

// uploadScan stores a scan from `patchday scan --upload`.
func (s *Server) uploadScan(c *call) error {
	var up scanUpload
	if err := decodeLimit(c.w, c.r, &up, maxScanBody); err != nil {
		return err
	}
	resp, err := s.saveScan(c, c.org.ID, up, scanOrigin{by: c.user.Username})
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusCreated, resp)
	return nil
}

// scanOrigin says who made a scan: a user, or an agent for a schedule.
type scanOrigin struct {
	by         string
	scheduleID *int64
	computerID *int64
}

// saveScan checks an uploaded scan, matches its products to advisories, stores it, compares
// it with the previous scan of the same targets and raises events for new open ports and
// policy violations.
func (s *Server) saveScan(c *call, orgID int64, up scanUpload, origin scanOrigin) (scanResponse, error) {
	var resp scanResponse
	switch {
	case len(up.Targets) == 0 || len(up.Targets) > 10000:
		return resp, errInvalid("targets", "must name 1 to 10,000 targets")
	case up.Ports < 1 || up.Ports > 2*65535:
		return resp, errInvalid("ports", "must be the number of ports scanned per target, TCP and UDP, 1 to 131070")
	case up.Started.IsZero() || up.Finished.Before(up.Started):
		return resp, errInvalid("finished", "must not be before started")
	case len(up.Findings) > 100000:
		return resp, errInvalid("findings", "must hold at most 100,000 findings")
	}
	// The scanner's clock decides nothing the server keeps: no time after the upload.
	if now := s.cfg.Now(); up.Finished.After(now) {
		up.Started, up.Finished = now.Add(-up.Finished.Sub(up.Started)), now
	}
	portSet, err := checkPortSpec(up.PortSpec, up.Ports)
	if err != nil {
		return resp, err
	}
	for i, t := range up.Targets {
		if err := checkName(fmt.Sprintf("targets[%d]", i), t, 255); err != nil {
			return resp, err
		}
	}
	targets := slices.Clone(up.Targets)
	slices.Sort(targets)
	sc := store.Scan{OrgID: orgID, Targets: truncate(strings.Join(targets, " "), 4096), Ports: up.Ports, StartedAt: up.Started,
		FinishedAt: up.Finished, Interrupted: up.Interrupted, Attempts: up.Stats.Attempts, UploadedBy: origin.by,
		ScheduleID: origin.scheduleID, ComputerID: origin.computerID, PortSet: portSet}
	seen := map[string]bool{}
	findings := make([]store.ScanFinding, 0, len(up.Findings))
	for i, raw := range up.Findings {
		var f scanFindingUpload
		if err := json.Unmarshal(raw, &f); err != nil {
			return resp, errInvalid(fmt.Sprintf("findings[%d]", i), "is not a finding: %v", err)
		}
		field := func(name string) string { return fmt.Sprintf("findings[%d].%s", i, name) }
		addr, err := netip.ParseAddr(f.Host)
		switch {
		case err != nil:
			return resp, errInvalid(field("host"), "must be an IP address")
		case f.Port < 1 || f.Port > 65535:
			return resp, errInvalid(field("port"), "must be from 1 to 65535")
		case f.Protocol != "tcp" && f.Protocol != "udp":
			return resp, errInvalid(field("protocol"), "must be tcp or udp")
		case f.State != "" && f.State != "open":
			// What the scanner found closed or filtered is in its stats; a stored finding is
			// an open port, compared with the previous scan's.
			return resp, errInvalid(field("state"), "must be open: only open ports are uploaded (scan without --all-states)")
		case len(raw) > 16<<10 || len(f.Service) > 64 || len(f.Product) > 256 || len(f.Version) > 256:
			return resp, errInvalid(field("detail"), "is too large")
		case !utf8.Valid(raw):
			return resp, errInvalid(field("detail"), "must be UTF-8")
		case hasControl(f.Service) || hasControl(f.Product) || hasControl(f.Version):
			return resp, errInvalid(field("detail"), "service, product and version must not hold control characters")
		}
		key := fmt.Sprint(f.Protocol, addr, f.Port)
		if seen[key] {
			return resp, errInvalid(field("port"), "repeats %s/%s:%d", f.Protocol, addr, f.Port)
		}
		seen[key] = true
		sf := store.ScanFinding{Host: addr.String(), Port: f.Port, Protocol: f.Protocol, Service: f.Service, Product: f.Product,
			Version: f.Version, Detail: raw}
		if len(f.Violation) > 0 && string(f.Violation) != "null" {
			var v struct {
				Message string `json:"message"`
			}
			msg := string(f.Violation)
			if json.Unmarshal(f.Violation, &v) == nil && v.Message != "" {
				msg = v.Message
			}
			sf.Violation = scan.SanitizeText(msg, 500) // valid UTF-8, no control characters
		}
		findings = append(findings, sf)
	}
	ctx := c.r.Context()
	if err := catalog.MatchServices(ctx, s.store, orgID, findings); err != nil {
		return resp, err
	}
	err = s.store.Update(ctx, func(tx *store.Tx) error {
		var err error
		if resp.Scan, resp.ClosedPorts, err = tx.SaveScan(ctx, sc, findings); err != nil {
			return err
		}
		// The events say what was found, so that a chat channel or whoever is on call can
		// act on them: the ports (at most maxEventFindings, then how many more).
		var opened, breaking []string
		for _, f := range findings {
			port := fmt.Sprintf("%s %s/%d", f.Host, f.Protocol, f.Port)
			if f.Service != "" {
				port += " " + strings.TrimSpace(f.Service+" "+f.Product+" "+f.Version)
			}
			if f.Change == "opened" {
				opened = append(opened, port)
			}
			if f.Violation != "" {
				breaking = append(breaking, port+": "+f.Violation)
			}
		}
		if resp.Opened > 0 {
			if err := tx.AddEvent(ctx, orgID, "scan.opened", sc.Targets, scanEventDetails(resp.ID, "opened", opened)); err != nil {
				return err
			}
		}
		if resp.Violations > 0 {
			if err := tx.AddEvent(ctx, orgID, "scan.violation", sc.Targets, scanEventDetails(resp.ID, "violations", breaking)); err != nil {
				return err
			}
		}
		return c.audit(tx, orgID, "scan.upload", "scan", itoa(resp.ID), map[string]any{"targets": len(up.Targets),
			"open": resp.OpenPorts, "opened": resp.Opened, "closed": resp.Closed, "violations": resp.Violations})
	})
	if err != nil {
		return resp, err
	}
	resp.Findings = findings
	return resp, nil
}

func (s *Server) listScans(c *call) error {
	p, err := page(c.r)
	if err != nil {
		return err
	}
	scans, err := s.store.ListScans(c.r.Context(), c.org.ID, store.Page{After: p.After, Limit: p.Limit + 1})
	if err != nil {
		return err
	}
	writeList(c.w, scans, p.Limit, func(s store.Scan) int64 { return s.ID })
	return nil
}

func (s *Server) getScan(c *call) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	sc, err := s.store.Scan(c.r.Context(), c.org.ID, id)
	if err != nil {
		return storeErr(err, "scan "+itoa(id))
	}
	fs, err := s.store.ScanFindings(c.r.Context(), id)
	if err != nil {
		return err
	}
	if fs == nil {
		fs = []store.ScanFinding{}
	}
	if f := s.advisoryFilter(c); f != nil {
		for i := range fs {
			if len(fs[i].Advisories) == 0 {
				continue
			}
			fs[i].Advisories, fs[i].Severity = f(fs[i].Advisories, fs[i].Product, fs[i].Version)
			// The finding as uploaded carries the matched ids too.
			var d map[string]json.RawMessage
			if json.Unmarshal(fs[i].Detail, &d) == nil && d != nil {
				if len(fs[i].Advisories) > 0 {
					d["advisories"], _ = json.Marshal(fs[i].Advisories)
				} else {
					delete(d, "advisories")
				}
				fs[i].Detail, _ = json.Marshal(d)
			}
		}
	}
	writeJSON(c.w, http.StatusOK, scanResponse{Scan: sc, Findings: fs})
	return nil
}

// advisoryFilter is nil for a reader who may read embargoed advisories; for the others
// (viewers) it keeps of a scan finding's advisories the published ones, with their
// published revision's severity. Scans are matched with every advisory's newest revision,
// embargoed ones too, so that admins, operators and partners see an exposure before its
// release; while a revision of a published advisory waits for its release, the finding's
// product and version are matched with the published revision instead, so that a viewer
// sees what it says and nothing of what the waiting one does.
func (s *Server) advisoryFilter(c *call) store.FindingAdvisories {
	if c.mayReadEmbargoed() {
		return nil
	}
	ctx, orgID := c.r.Context(), c.org.ID
	type view struct {
		visible  bool
		severity string
		doc      *csaf.Document // the published revision, when one waits
	}
	seen := map[string]view{}
	viewOf := func(id string) view {
		if v, ok := seen[id]; ok {
			return v
		}
		var v view // on an error, as not visible
		if a, err := s.store.AdvisoryByTrackingID(ctx, orgID, id); err == nil && a.PublishedAt != nil {
			if a.ScheduledRelease == nil {
				v = view{visible: true, severity: a.Severity}
			} else if pub, err := s.publicView(ctx, a); err == nil {
				if n, err := s.latestPublishedRevision(ctx, a.ID); err == nil {
					if rev, err := s.store.AdvisoryRevision(ctx, a.ID, n); err == nil {
						if d, err := csaf.Parse(rev.Document); err == nil {
							v = view{visible: true, severity: pub.Severity, doc: d}
						}
					}
				}
			}
		}
		seen[id] = v
		return v
	}
	return func(ids []string, product, version string) ([]string, string) {
		var kept []string
		best := ""
		for _, id := range ids {
			v := viewOf(id)
			if !v.visible || v.doc != nil && len(v.doc.MatchService(product, version)) == 0 {
				continue
			}
			kept = append(kept, id)
			if best == "" || csaf.SeverityRank(v.severity) > csaf.SeverityRank(best) {
				best = v.severity
			}
		}
		return kept, best
	}
}

// maxEventFindings bounds the ports a scan event lists.
const maxEventFindings = 20

// scanEventDetails is a scan event's details: the scan, how many ports (key) and the first
// of them, "and N more" after maxEventFindings.
func scanEventDetails(scanID int64, key string, ports []string) string {
	d := map[string]any{"scan": scanID, key: len(ports)}
	if len(ports) > maxEventFindings {
		ports = append(ports[:maxEventFindings:maxEventFindings], fmt.Sprintf("and %d more", len(ports)-maxEventFindings))
	}
	d["ports"] = ports
	b, _ := json.Marshal(d)
	return string(b)
}

// checkPortSpec reads a scan's list of ports ("tcp:22,80 udp:53", scan.Result.PortSpec),
// which must name as many ports as the scan says it probed, and returns what identifies
// them: the SHA-256 of the canonical list ("" for an upload without one).
func checkPortSpec(spec string, ports int) (string, error) {
	if spec == "" {
		return "", nil
	}
	if len(spec) > 512<<10 { // the longest list of one protocol's ports is about 330 KiB
		return "", errInvalid("port_spec", "is too large")
	}
	var canon []string
	n := 0
	seen := map[string]bool{}
	for part := range strings.FieldsSeq(spec) {
		proto, list, ok := strings.Cut(part, ":")
		if !ok || proto != "tcp" && proto != "udp" {
			return "", errInvalid("port_spec", "must be tcp:PORTS and udp:PORTS, such as tcp:22,80-82 udp:53")
		}
		if seen[proto] { // one list a protocol: bounded work, one canonical form
			return "", errInvalid("port_spec", "names %s twice", proto)
		}
		seen[proto] = true
		ps, err := scan.ParsePorts(list)
		if err != nil {
			return "", errInvalid("port_spec", "%v", err)
		}
		n += len(ps)
		canon = append(canon, proto+":"+scan.FormatPorts(ps))
	}
	if n != ports {
		return "", errInvalid("port_spec", "names %d ports, but the scan says it probed %d", n, ports)
	}
	slices.Sort(canon)
	sum := sha256.Sum256([]byte(strings.Join(canon, " ")))
	return hex.EncodeToString(sum[:]), nil
}
