package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
)

// A year of monthly releases: each month a new OpenSSL update supersedes the last, a rule
// approves it, 20 machines install it and report their new inventories, and a new vendor
// tool (with its payload) replaces the last one. The cleanup declines what is superseded and
// needed nowhere, deletes the payloads nothing uses and the history past retention: the
// tables that grow with time stop growing.
func TestYearOfReleasesStaysBounded(t *testing.T) {
	var e *env
	e = newEnvWith(t, store.SQLite, func(c *server.Config) {
		c.LoginBurst = 1000
		c.PayloadGrace = time.Nanosecond
		c.HistoryRetention = 90 * 24 * time.Hour
	})
	defer store.SetClock(e.clock)()
	e.createOrg("a")
	e.must(201, "POST", "/api/v1/orgs/a/groups", e.admin, map[string]any{"name": "all", "rule": "os=debian"})
	e.must(201, "POST", "/api/v1/orgs/a/rules", e.admin, map[string]any{"name": "security", "group": "all", "classification": "security"})
	tok := e.enrollToken("a", map[string]any{"expires_in": "366d"})
	var agents []*simAgent
	invs := make([]protocol.Inventory, 20)
	for i := range invs {
		invs[i] = machine(fmt.Sprintf("m%02d", i), "amd64", "12", "3.0.0-1")
		agents = append(agents, &simAgent{er: e.enrollMachine(tok, invs[i])})
	}
	sizes := map[int]map[string]int64{}
	for month := 1; month <= 12; month++ {
		e.advance(30 * 24 * time.Hour)
		e.admin = e.login("admin", adminPassword)
		fixed := fmt.Sprintf("3.0.%d-1", month)
		u := map[string]any{"name": fmt.Sprintf("openssl-%02d", month), "title": "OpenSSL " + fixed, "classification": "security",
			"applicability": map[string]any{"purl": "pkg:deb/debian/openssl", "vers": "vers:deb/<" + fixed},
			"installer":     map[string]any{"type": "apt"}}
		tool := map[string]any{"name": fmt.Sprintf("tool-%02d", month), "title": "Tool", "classification": "feature",
			"applicability": map[string]any{"purl": "pkg:generic/acme/tool"}}
		if month > 1 {
			u["supersedes"] = []string{fmt.Sprintf("openssl-%02d", month-1)}
			tool["supersedes"] = []string{fmt.Sprintf("tool-%02d", month-1)}
		}
		e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, u)
		var p struct {
			Digest string `json:"sha256"`
		}
		e.must(201, "PUT", "/api/v1/orgs/a/payloads?filename=tool.tar", e.admin, fmt.Sprintf("tool build %d", month)).json(t, &p)
		tool["installer"] = map[string]any{"type": "artifact", "payload": p.Digest, "command": []string{"./install.sh"}}
		e.must(201, "POST", "/api/v1/orgs/a/updates", e.admin, tool)

		// Every machine installs the month's update and reports it.
		for i, a := range agents {
			l := a.list(t, e)
			it, ok := l[fmt.Sprintf("openssl-%02d", month)]
			if !ok {
				t.Fatalf("month %d: m%02d did not get the update (%v)", month, i, l)
			}
			invs[i].Packages[1].Version = fixed
			invs[i].Normalize()
			cr := e.checkin(a.er.Credential, protocol.CheckIn{Results: []protocol.Result{result(fmt.Sprintf("result-%02d-%02d", month, i), it, true, e.clock())},
				InventoryHash: invs[i].Hash(), Inventory: &invs[i], Sequence: a.seq})
			if len(cr.Acknowledged) != 1 {
				t.Fatalf("month %d: result not acknowledged", month)
			}
		}
		if _, err := e.srv.Cleanup(t.Context()); err != nil {
			t.Fatal(err)
		}
		rows, err := e.store.TableRows(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		sizes[month] = rows
	}
	t.Logf("month 6: %v", sizes[6])
	t.Logf("month 12: %v", sizes[12])
	// What grows with time must have stopped growing by the middle of the year.
	for _, table := range []string{"computer_updates", "update_state_history", "install_results", "payloads", "inventories", "approvals"} {
		if sizes[12][table] > sizes[6][table] {
			t.Errorf("%s grew from %d rows in month 6 to %d in month 12", table, sizes[6][table], sizes[12][table])
		}
	}
	// Only the last two months' updates still have states (this month's, and last month's
	// until it is a month superseded); the payloads of superseded tools are gone, with
	// their blobs.
	if n := sizes[12]["computer_updates"]; n > 2*20 {
		t.Errorf("%d states at the end of the year, want at most 40", n)
	}
	if n := sizes[12]["payloads"]; n > 2 {
		t.Errorf("%d payloads at the end of the year, want at most 2", n)
	}
	blobs, _ := filepath.Glob(filepath.Join(e.blobDir, "*", "*"))
	files := 0
	for _, b := range blobs {
		if fi, err := os.Stat(b); err == nil && !fi.IsDir() {
			files++
		}
	}
	if files > 2 {
		t.Errorf("%d blobs on disk at the end of the year, want at most 2", files)
	}
	var l struct{ Items []store.Update }
	e.must(200, "GET", "/api/v1/orgs/a/updates?limit=100", e.admin, nil).json(t, &l)
	if len(l.Items) != 24 {
		t.Errorf("%d updates listed: declined ones stay in the catalog", len(l.Items))
	}
}
