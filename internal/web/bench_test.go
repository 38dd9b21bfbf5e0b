package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/compliance"
	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/rollout"
	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/web"
)

// BenchmarkPages renders every console page of an organisation with
// PATCHDAY_BENCH_COMPUTERS computers (default 100,000) on SQLite, through the full stack
// (HTTP over loopback, the session cookie, the console, its in-process API calls), and, as
// the baseline, the JSON API call that carries the same page's main data, with a bearer
// token, in the same run. The fleet: the demo organisation (its catalog, groups and six
// machines) plus the generated computers, in 40 inventory profiles of which some lack the
// demo's OpenSSL and SQL engine fixes, all in the dynamic "broad" ring, a quarter also in
// "pilot", with 90 days of compliance history and 100,000 audit events.
//
//	go test -run '^$' -bench Pages -benchtime 20x -timeout 30m ./internal/web
func BenchmarkPages(b *testing.B) {
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("PATCHDAY_BENCH_COMPUTERS")); err == nil && v > 0 {
		n = v
	}
	e := newBenchEnv(b, n)
	session := e.signIn("admin", adminPassword)
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(b *testing.B, path string, console bool) {
		req, _ := http.NewRequest("GET", e.http.URL+path, nil)
		if console {
			req.AddCookie(&http.Cookie{Name: web.CookieName, Value: session})
		} else {
			req.Header.Set("Authorization", "Bearer "+e.admin)
		}
		resp, err := cl.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}
	o := "/api/v1/orgs/default"
	host := fmt.Sprintf("host-%06d", n/2)
	// The first dashboard after the start judges the whole fleet before it answers; later
	// ones come from the server's fleet report cache (see internal/server/reportcache.go).
	t0 := time.Now()
	get(b, "/o/default/", true)
	first := time.Since(t0)
	b.Logf("first dashboard after the start: %v", first.Round(time.Millisecond))
	// Eight administrators open the dashboard at once on another server just started on the
	// same database, with no report yet: they wait for one judgement of the fleet together
	// (internal/server/reportcache.go), not for eight on the same two cores.
	{
		e3 := newEnvOn(b, e.store, false)
		s3 := e3.signIn("admin", adminPassword)
		t0 := time.Now()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				req, _ := http.NewRequest("GET", e3.http.URL+"/o/default/", nil)
				req.AddCookie(&http.Cookie{Name: web.CookieName, Value: s3})
				resp, err := cl.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("dashboard: %d", resp.StatusCode)
				}
			})
		}
		wg.Wait()
		all := time.Since(t0)
		b.Logf("8 first dashboards at once after the start: %v (%.2f× one)", all.Round(time.Millisecond), float64(all)/float64(first))
		e3.http.Close()
	}
	// After a change the report of a large fleet is answered stale at once and made again in
	// the background: the page view that follows a change (here an admin's, the policy set to
	// what it was) does not wait for it.
	change := func(b *testing.B) {
		req, _ := http.NewRequest("PUT", e.http.URL+o+"/health-policy", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+e.admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := cl.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("PUT health-policy: %d", resp.StatusCode)
		}
	}
	for _, pg := range []struct{ name, page string }{{"dashboard", "/o/default/"}, {"group", "/o/default/groups/pilot"}} {
		b.Run("page="+pg.name+"/console-after-change", func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				change(b)
				b.StartTimer()
				get(b, pg.page, true)
			}
		})
	}
	for _, pg := range []struct{ name, page, api string }{
		{"dashboard", "/o/default/", o + "/reports/compliance"},
		{"advisories", "/o/default/advisories", o + "/advisories?limit=50"},
		{"advisory", "/o/default/advisories/4", o + "/reports/advisory?id=4&limit=50"},
		{"updates", "/o/default/updates", o + "/updates?limit=50"},
		{"update", "/o/default/updates/openssl-3.0.11-1-deb12u2", o + "/updates/openssl-3.0.11-1-deb12u2/rollout"},
		{"computers", "/o/default/computers", o + "/computers?limit=50"},
		{"computers-filtered", "/o/default/computers?q=host-05", o + "/computers?limit=50&q=host-05"},
		{"computer", "/o/default/computers/" + host, o + "/computers/" + host + "/report"},
		{"groups", "/o/default/groups", o + "/groups"},
		{"group", "/o/default/groups/pilot", o + "/reports/group?name=pilot"},
		{"rules", "/o/default/rules", o + "/rules"},
		{"scans", "/o/default/scans", o + "/reports/exposure?limit=50"},
		{"audit", "/o/default/audit", "/api/v1/audit?org=default&limit=50"},
		{"users", "/o/default/users", o + "/users?limit=50"},
		{"tokens", "/tokens", "/api/v1/tokens?limit=50"},
	} {
		b.Run("page="+pg.name+"/console", func(b *testing.B) {
			for b.Loop() {
				get(b, pg.page, true)
			}
		})
		b.Run("page="+pg.name+"/api", func(b *testing.B) {
			for b.Loop() {
				get(b, pg.api, false)
			}
		})
	}
}

// newBenchEnv is newEnv with n more computers in the demo organisation.
func newBenchEnv(b *testing.B, n int) *env {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	st, err := store.Open(ctx, "", b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	// The demo first (server.Bootstrap and demo.Load as newEnvOn does), then the fleet.
	e := newEnvOn(b, st, true)
	e.http.Close()
	org, err := st.OrgBySlug(ctx, "default")
	if err != nil {
		b.Fatal(err)
	}
	type profile struct {
		hash  string
		facts store.ComputerFacts
	}
	var profiles []profile
	hb, _ := json.Marshal(protocol.Health{Firewall: protocol.Firewall{Enabled: true, Tools: []string{"nftables"}, DefaultInput: "drop"}})
	now := time.Now()
	err = st.Update(ctx, func(tx *store.Tx) error {
		for i := range 40 {
			inv := protocol.Inventory{Hostname: "profile", MachineID: "profile", OSID: "debian", OSVersion: "12", OSName: "Debian GNU/Linux 12",
				Kernel: "6.1.0-28-amd64", Arch: "amd64", Languages: []string{"en-US"}}
			openssl := "3.0.11-1~deb12u2"
			if i%4 == 0 {
				openssl = "3.0.11-1~deb12u1" // a quarter lack the OpenSSL fix
			}
			inv.Packages = []protocol.Package{{Name: "bash", Version: "5.2.15-2+b7", Arch: "amd64"}, {Name: "openssl", Version: openssl, Arch: "amd64"},
				{Name: "libc6", Version: "2.36-9+deb12u9", Arch: "amd64"}}
			if i%10 == 0 {
				inv.Packages = append(inv.Packages, protocol.Package{Name: "example-sql-engine", Version: "2022.150.4000", Arch: "amd64"})
			}
			for k := range 200 {
				inv.Packages = append(inv.Packages, protocol.Package{Name: fmt.Sprintf("libbench%d", k), Version: fmt.Sprintf("1.%d-%d", k, i%3), Arch: "amd64"})
			}
			inv.Normalize()
			blob, err := compliance.EncodeInventory(&inv)
			if err != nil {
				return err
			}
			if err := tx.SaveInventory(ctx, inv.Hash(), blob, len(inv.Packages)); err != nil {
				return err
			}
			profiles = append(profiles, profile{inv.Hash(), store.ComputerFacts{MachineID: "", OSID: inv.OSID, OSVersion: inv.OSVersion,
				OSName: inv.OSName, Kernel: inv.Kernel, Arch: inv.Arch, AgentVersion: "bench", Languages: inv.Languages}})
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	pilot, err := st.GroupByName(ctx, org.ID, "pilot")
	if err != nil {
		b.Fatal(err)
	}
	for done := 0; done < n; {
		err := st.Update(ctx, func(tx *store.Tx) error {
			seen := map[int64]time.Time{}
			for k := 0; k < 2000 && done < n; k++ {
				p := profiles[done%len(profiles)]
				facts := p.facts
				facts.Hostname = fmt.Sprintf("host-%06d", done)
				facts.MachineID = "bench-" + facts.Hostname
				c, err := tx.EnrollComputer(ctx, org.ID, facts, "cred-"+facts.Hostname, 0, "")
				if err != nil {
					return err
				}
				if err := tx.SetComputerInventory(ctx, c.ID, p.hash, facts); err != nil {
					return err
				}
				if err := tx.SetComputerHealth(ctx, c.ID, hb, "bench", "bench"); err != nil {
					return err
				}
				seen[c.ID] = now.Add(-time.Duration(done%3600) * time.Second)
				if done%4 == 0 {
					if err := tx.AddGroupMember(ctx, pilot.ID, c.ID, "bench"); err != nil {
						return err
					}
				}
				done++
			}
			return tx.TouchComputers(ctx, seen)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	err = st.Update(ctx, func(tx *store.Tx) error {
		broad, err := tx.GroupByName(ctx, org.ID, "broad")
		if err != nil {
			return err
		}
		if _, _, err := rollout.RefreshGroup(ctx, tx, broad); err != nil {
			return err
		}
		total := n + 6
		for d := 90; d >= 1; d-- {
			day := now.AddDate(0, 0, -d).UTC()
			if err := tx.SaveSnapshot(ctx, org.ID, store.Snapshot{Day: day.Format(time.DateOnly), Computers: total,
				Compliant: total * (60 + (90-d)*3/9) / 100, MissingTotal: total / 4, TakenAt: day}); err != nil {
				return err
			}
		}
		orgID := org.ID
		for i := range 100000 {
			if _, err := tx.AppendAudit(ctx, store.AuditEvent{OrgID: &orgID, Actor: "bench", Action: "computer.tag", ObjectType: "computer",
				ObjectID: strconv.Itoa(i), Source: "127.0.0.1", RequestID: "bench", Time: now.Add(-time.Duration(i) * time.Minute)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	seeded := time.Since(start)
	// A fresh server on the seeded store: its evaluator works out the fleet's states at start.
	t0 := time.Now()
	e2 := newEnvOn(b, st, false)
	b.Logf("%d computers seeded in %v; server start (full evaluation) %v", n+6, seeded.Round(time.Second), time.Since(t0).Round(time.Millisecond))
	return e2
}
