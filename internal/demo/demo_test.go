package demo

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/blob"
	"github.com/patchday/patchday/internal/compliance"
	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

func TestReleaseDay(t *testing.T) {
	for in, want := range map[string]string{
		"2026-11-23T08:00:00Z": "2026-11-10T10:00:00Z",
		"2026-11-10T09:59:00Z": "2026-10-13T10:00:00Z",
		"2026-11-10T10:00:00Z": "2026-11-10T10:00:00Z",
		"2026-01-05T00:00:00Z": "2025-12-09T10:00:00Z",
		"2026-09-30T00:00:00Z": "2026-09-08T10:00:00Z",
	} {
		now, _ := time.Parse(time.RFC3339, in)
		if got := ReleaseDay(now).Format(time.RFC3339); got != want {
			t.Errorf("ReleaseDay(%s) = %s, want %s", in, got, want)
		}
	}
}

// The demo loads into a fresh server on every engine, with every advisory valid and the
// revised one at revision 2.
func TestLoad(t *testing.T) {
	for _, engine := range storetest.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			ctx := context.Background()
			st := storetest.Open(t, engine)
			if _, _, err := server.Bootstrap(ctx, st, "demo-admin-password"); err != nil {
				t.Fatal(err)
			}
			blobs, err := blob.OpenDisk(t.TempDir(), blob.DiskOptions{})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
			if err := Load(ctx, st, blobs, "default", now); err != nil {
				t.Fatal(err)
			}
			org, _ := st.OrgBySlug(ctx, "default")
			as, err := st.ListAdvisories(ctx, org.ID, store.AdvisoryFilter{Limit: 100})
			if err != nil || len(as) != 4 {
				t.Fatalf("advisories %d, %v", len(as), err)
			}
			sev := map[string]string{}
			for _, a := range as {
				sev[a.TrackingID] = a.Severity
				if a.TrackingID == "EXS-2026-1104" && (a.Revisions != 2 || a.Version != "2") {
					t.Errorf("revised advisory: %+v", a)
				}
			}
			if sev["EXS-2026-1101"] != "critical" || sev["EXS-2026-1102"] != "high" || sev["EXS-2026-1103"] != "medium" {
				t.Errorf("severities %v", sev)
			}
			us, err := st.ListUpdates(ctx, org.ID, store.UpdateFilter{Page: store.Page{Limit: 100}})
			if err != nil || len(us) != 5 {
				t.Fatalf("updates %d, %v", len(us), err)
			}
			// The exposure scan: the mail server and the old SQL engine are vulnerable, two
			// ports break the policy, and SMB too.
			ne, err := st.NetworkExposure(ctx, org.ID, now.AddDate(0, 0, -30), 100, nil)
			if err != nil || ne.Scans != 1 || ne.OpenPorts != 6 || ne.Vulnerable != 2 || ne.Violations != 3 || ne.Hosts != 3 {
				t.Errorf("exposure %+v, %v", ne, err)
			}
			if len(ne.Findings) == 0 || ne.Findings[0].Severity != sev[ne.Findings[0].Advisories[0]] || ne.Findings[0].Product == "" {
				t.Errorf("exposure findings %+v", ne.Findings)
			}
			eol, _ := st.ListProducts(ctx, org.ID, store.ProductFilter{EndedBy: "2026-11-23", Page: store.Page{Limit: 10}})
			if len(eol) != 4 {
				t.Errorf("products past support: %d", len(eol))
			}
			// The fleet: what the server works out at start.
			if err := compliance.NewEvaluator(st, nil).Load(ctx); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"web-01":    "openssl-3.0.11-1-deb12u2=needed", // past u1 already
				"web-02":    "",
				"db-01":     "example-sql-engine-2019.150.4390=needed",
				"db-02":     "openssl-3.0.11-1-deb12u1=superseded openssl-3.0.11-1-deb12u2=needed",
				"laptop-07": "openssl-3.0.11-1-deb12u2=needed",
				"legacy-01": "", // Debian 11: the updates are for Debian 12
			}
			for host, states := range want {
				c, err := st.ComputerByHostname(ctx, org.ID, host)
				if err != nil {
					t.Fatal(err)
				}
				ups, _ := st.ComputerUpdates(ctx, c.ID)
				var got []string
				for _, u := range ups {
					got = append(got, u.UpdateName+"="+u.State)
				}
				if strings.Join(got, " ") != states {
					t.Errorf("%s: %v, want %s", host, got, states)
				}
			}
			for name, n := range map[string]int{"pilot": 2, "broad": 4} {
				g, err := st.GroupByName(ctx, org.ID, name)
				if err != nil || g.Members != n {
					t.Errorf("group %s: %+v %v", name, g, err)
				}
			}
		})
	}
}
