package agent

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/scan"
	"github.com/patchday/patchday/internal/scan/probe"
)

// scanReportTTL is how long a scan report that cannot be delivered is kept.
const scanReportTTL = 7 * 24 * time.Hour

func (a *Agent) scanReportDir() string { return filepath.Join(a.cfg.StateDir, "scan-reports") }

// acceptScanTasks verifies a signed scan task list and keeps its tasks for ScanDue. Only
// subnets this agent reported in its inventory are kept: a task can make it scan its own
// neighbourhood and nothing else.
func (a *Agent) acceptScanTasks(s *protocol.Signed, networks []string) error {
	last := time.Time{}
	if a.prog.ScanIssued != nil {
		last = *a.prog.ScanIssued
	}
	l, err := protocol.VerifyScanTasks(*s, ed25519.PublicKey(a.key), a.id.ComputerID, last, a.cfg.Now())
	if err != nil {
		return fmt.Errorf("scan tasks refused: %w", err)
	}
	var keep []protocol.ScanTask
	for _, t := range l.Tasks {
		if !slices.Contains(networks, t.Target) {
			a.log.Warn("scan task for a subnet this machine did not report; ignored", "schedule", t.Schedule, "target", t.Target)
			continue
		}
		keep = append(keep, t)
	}
	issued := l.IssuedAt
	a.prog.ScanIssued, a.prog.ScanTasks = &issued, keep
	return nil
}

func scanKey(t protocol.ScanTask) string { return fmt.Sprintf("%d/%s", t.ScheduleID, t.Target) }

// ScanDue runs the scan tasks of the last check-in not run within half their interval (the
// server sends a task until it has the result, and a result may wait in the state directory
// for delivery), keeps each result in the state directory and delivers what it can. It
// returns how many scans ran.
func (a *Agent) ScanDue(ctx context.Context) (int, error) {
	ran := 0
	for _, t := range slices.Clone(a.prog.ScanTasks) {
		now := a.cfg.Now()
		if last, ok := a.prog.Scans[scanKey(t)]; ok && now.Sub(last) < time.Duration(t.Every)*time.Second/2 {
			continue
		}
		a.log.Info("scanning for a scan schedule", "schedule", t.Schedule, "target", t.Target, "ports", t.Ports, "rate", t.Rate)
		rep, err := a.runScanTask(ctx, t)
		if err != nil {
			if ctx.Err() != nil {
				return ran, ctx.Err()
			}
			a.log.Error("scan task failed", "schedule", t.Schedule, "target", t.Target, "err", err)
			continue
		}
		if err := os.MkdirAll(a.scanReportDir(), 0o700); err != nil {
			return ran, err
		}
		// Named by the time first, so that the directory lists them oldest first and the
		// server compares each with the one before it.
		name := fmt.Sprintf("%020d-%s.json", time.Now().UnixNano(), newID())
		if err := writeJSONFile(filepath.Join(a.scanReportDir(), name), rep, 0o600); err != nil {
			return ran, fmt.Errorf("keep scan report: %w", err)
		}
		if a.prog.Scans == nil {
			a.prog.Scans = map[string]time.Time{}
		}
		a.prog.Scans[scanKey(t)] = now
		a.prog.ScanTasks = slices.DeleteFunc(a.prog.ScanTasks, func(o protocol.ScanTask) bool { return scanKey(o) == scanKey(t) })
		if err := a.saveProgress(); err != nil {
			return ran, err
		}
		ran++
	}
	return ran, a.deliverScanReports(ctx)
}

// runScanTask scans a task's subnet the way `patchday scan` does, with the task's ports,
// rate and policy; the scanner refuses public addresses.
func (a *Agent) runScanTask(ctx context.Context, t protocol.ScanTask) (protocol.ScanReport, error) {
	ports, err := scan.ParsePorts(t.Ports)
	if err != nil {
		return protocol.ScanReport{}, fmt.Errorf("ports: %w", err)
	}
	var udp []uint16
	if t.UDP != "" {
		if udp, err = scan.ParsePorts(t.UDP); err != nil {
			return protocol.ScanReport{}, fmt.Errorf("udp: %w", err)
		}
	}
	opts := scan.Options{UDPPorts: udp, Targets: []string{t.Target}}
	if t.Policy != "" {
		p, err := scan.ParsePolicy(strings.NewReader(t.Policy))
		if err != nil {
			return protocol.ScanReport{}, fmt.Errorf("policy: %w", err)
		}
		opts.Policy = &p
	}
	targets, err := scan.ParseTargets([]string{t.Target}, false)
	if err != nil {
		return protocol.ScanReport{}, err
	}
	s := &scan.Scanner{Rate: float64(max(t.Rate, 1))}
	probe.Attach(s)
	res, err := s.Scan(ctx, targets, ports, opts)
	if err != nil {
		return protocol.ScanReport{}, err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return protocol.ScanReport{}, err
	}
	a.log.Info("scan done", "schedule", t.Schedule, "target", t.Target, "open", res.Stats.Open, "probes", res.Stats.Attempts)
	return protocol.ScanReport{ScheduleID: t.ScheduleID, Target: t.Target, Result: b}, nil
}

// deliverScanReports uploads the kept reports, oldest first. A report the server refuses
// for good (4xx) is dropped with a log line; one it could not take now stays for the next
// cycle, for a week at most.
func (a *Agent) deliverScanReports(ctx context.Context) error {
	entries, err := os.ReadDir(a.scanReportDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(a.scanReportDir(), e.Name())
		if info, err := e.Info(); err == nil && a.cfg.Now().Sub(info.ModTime()) > scanReportTTL {
			a.log.Warn("scan report not delivered within a week; dropped", "file", path)
			os.Remove(path)
			continue
		}
		var rep protocol.ScanReport
		if ok, err := readJSONFile(path, &rep); err != nil || !ok {
			a.log.Warn("unreadable scan report dropped", "file", path, "err", err)
			os.Remove(path)
			continue
		}
		var stored struct {
			ID int64 `json:"id"`
		}
		err := post(ctx, a.client, a.id.Server+protocol.PathScans, a.id.Credential, a.cfg.Version, rep, &stored)
		var se *ServerError
		switch {
		case err == nil:
			a.log.Info("scan report delivered", "scan", stored.ID, "target", rep.Target)
		case errors.As(err, &se) && se.Status >= 400 && se.Status < 500 && se.Status != http.StatusTooManyRequests &&
			se.Status != http.StatusUnauthorized:
			a.log.Error("the server refused a scan report; dropped", "target", rep.Target, "err", err)
		default:
			return fmt.Errorf("deliver scan report: %w", err)
		}
		if err := os.Remove(path); err != nil {
			return err
		}
	}
	return nil
}
