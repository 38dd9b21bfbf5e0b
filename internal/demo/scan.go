package demo

import (
	"context"
	"encoding/json"
	"time"

	"github.com/patchday/patchday/internal/catalog"
	"github.com/patchday/patchday/internal/store"
)

// demoNetwork is the subnet the demo's exposure scan looked at.
const demoNetwork = "10.20.0.0/24"

// loadScan stores an exposure scan of the demo network from an hour ago: the mail server and
// the old SQL engine that advisories affect, an SMB port the firewall policy forbids, and
// SSH where it is allowed; so that `patchday report exposure` has something to say.
func loadScan(ctx context.Context, tx *store.Tx, orgID int64, now time.Time) error {
	type f struct {
		host                      string
		port                      int
		service, product, version string
		violation                 string
	}
	const allowed = "zone office, which allows tcp/22, tcp/443"
	list := []f{
		{"10.20.0.10", 22, "ssh", "OpenSSH", "9.2p1", ""},
		{"10.20.0.10", 25, "smtp", "Example Mail Server", "4.96.1", "tcp/25 is open in " + allowed},
		{"10.20.0.11", 22, "ssh", "OpenSSH", "9.2p1", ""},
		{"10.20.0.11", 1433, "mssql", "Example SQL Engine", "2019.150.4385", "tcp/1433 is open in " + allowed},
		{"10.20.0.12", 443, "https", "nginx", "1.22.1", ""},
		{"10.20.0.12", 445, "smb", "", "", "tcp/445 is open in " + allowed},
	}
	findings := make([]store.ScanFinding, 0, len(list))
	for _, x := range list {
		detail, _ := json.Marshal(map[string]any{"host": x.host, "port": x.port, "protocol": "tcp", "state": "open",
			"service": x.service, "product": x.product, "version": x.version})
		findings = append(findings, store.ScanFinding{Host: x.host, Port: x.port, Protocol: "tcp", Service: x.service,
			Product: x.product, Version: x.version, Violation: x.violation, Detail: detail})
	}
	if err := catalog.MatchServices(ctx, tx, orgID, findings); err != nil {
		return err
	}
	start := now.Add(-time.Hour)
	_, _, err := tx.SaveScan(ctx, store.Scan{OrgID: orgID, Targets: demoNetwork, Ports: 100, StartedAt: start,
		FinishedAt: start.Add(42 * time.Second), Attempts: 25600, UploadedBy: Actor}, findings)
	return err
}
