package demo

import (
	"context"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/blob"
	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

func TestReleaseDay(t *testing.T) {
	for in, want := range map[string]string{
		"2026-11-23T08:00:00Z": "2026-11-10T17:00:00Z",
		"2026-11-10T16:59:00Z": "2026-10-13T17:00:00Z",
		"2026-11-10T17:00:00Z": "2026-11-10T17:00:00Z",
		"2026-01-05T00:00:00Z": "2025-12-09T17:00:00Z",
		"2026-09-30T00:00:00Z": "2026-09-08T17:00:00Z",
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
			eol, _ := st.ListProducts(ctx, org.ID, store.ProductFilter{EndedBy: "2026-11-23", Page: store.Page{Limit: 10}})
			if len(eol) != 3 {
				t.Errorf("products past support: %d", len(eol))
			}
		})
	}
}
