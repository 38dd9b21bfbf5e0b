package server_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
)

// tlpCSAF is futureCSAF with a TLP label.
func tlpCSAF(t *testing.T, id, tlp string, rel time.Time) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(futureCSAF(t, id, rel, "1"), &doc); err != nil {
		t.Fatal(err)
	}
	doc["document"].(map[string]any)["distribution"] = map[string]any{"tlp": map[string]any{"label": tlp}}
	b, _ := json.Marshal(doc)
	return b
}

// The provider's folders: WHITE for anyone; AMBER only for members of the provider
// organisation, where those who may read embargoed advisories (partners, operators, admins)
// find the AMBER advisories that wait for their release too; nothing for other
// organisations. security.txt points to the provider.
func TestProviderAccessAndEarlyAccess(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		past, future := e.clock().Add(-48*time.Hour), e.clock().Add(72*time.Hour)
		e.must(201, "POST", "/api/v1/orgs/default/advisories", e.admin, tlpCSAF(t, "ACME-2026-0001", "WHITE", past))
		e.must(201, "POST", "/api/v1/orgs/default/advisories", e.admin, tlpCSAF(t, "ACME-2026-0002", "AMBER", past))
		e.must(201, "POST", "/api/v1/orgs/default/advisories", e.admin, tlpCSAF(t, "ACME-2026-0003", "AMBER", future))
		e.must(201, "POST", "/api/v1/orgs/default/advisories", e.admin, tlpCSAF(t, "ACME-2026-0004", "WHITE", future))
		if err := e.srv.Publish(t.Context()); err != nil {
			t.Fatal(err)
		}
		viewer := e.createUser("default", "vera", store.RoleViewer)
		partner := e.createUser("default", "pat", store.RolePartner)
		e.createOrg("other")
		stranger := e.createUser("other", "olga", store.RoleAdmin)

		year := past.UTC().Format("2006")
		futureYear := future.UTC().Format("2006")
		white := "/.well-known/csaf/white/" + year + "/acme-2026-0001.json"
		amber := "/.well-known/csaf/amber/" + year + "/acme-2026-0002.json"
		early := "/.well-known/csaf/amber/" + futureYear + "/acme-2026-0003.json"
		embargoedWhite := "/.well-known/csaf/white/" + futureYear + "/acme-2026-0004.json"
		for _, tc := range []struct {
			path, token string
			want        int
		}{
			{white, "", 200},
			{white + ".sha256", "", 200},
			{white + ".asc", "", 200},
			{embargoedWhite, "", 404},
			{embargoedWhite, partner, 404}, // embargoed WHITE stays out of the public folder
			{amber, "", 401},
			{amber, stranger, 404},
			{amber, viewer, 200},
			{early, viewer, 404},
			{amber, partner, 200},
			{early, partner, 200},
			{early + ".asc", partner, 200},
			{early, e.admin, 200},
			{early, stranger, 404},
		} {
			r := e.do("GET", tc.path, tc.token, nil)
			if r.status != tc.want {
				t.Errorf("GET %s as %q: %d, want %d: %.200s", tc.path, tc.token, r.status, tc.want, r.body)
			}
			if tc.want == 200 && strings.HasPrefix(tc.path, "/.well-known/csaf/amber/") && r.header.Get("Cache-Control") != "private, no-store" {
				t.Errorf("GET %s: Cache-Control %q", tc.path, r.header.Get("Cache-Control"))
			}
		}
		// The partner's AMBER index lists the embargoed advisory; the viewer's does not.
		if idx := string(e.must(200, "GET", "/.well-known/csaf/amber/index.txt", partner, nil).body); !strings.Contains(idx, "acme-2026-0003.json") {
			t.Errorf("partner's amber index:\n%s", idx)
		}
		if idx := string(e.must(200, "GET", "/.well-known/csaf/amber/index.txt", viewer, nil).body); strings.Contains(idx, "acme-2026-0003.json") ||
			!strings.Contains(idx, "acme-2026-0002.json") {
			t.Errorf("viewer's amber index:\n%s", idx)
		}
		// Public listings never show AMBER or embargoed documents.
		if idx := string(e.must(200, "GET", "/.well-known/csaf/white/index.txt", "", nil).body); strings.Contains(idx, "0002") ||
			strings.Contains(idx, "0003") || strings.Contains(idx, "0004") || !strings.Contains(idx, "acme-2026-0001.json") {
			t.Errorf("white index:\n%s", idx)
		}
		txt := string(e.must(200, "GET", "/.well-known/security.txt", "", nil).body)
		for _, want := range []string{"Contact: ", "Expires: ", "CSAF: ", "/.well-known/csaf/provider-metadata.json"} {
			if !strings.Contains(txt, want) {
				t.Errorf("security.txt lacks %q:\n%s", want, txt)
			}
		}
		var meta struct {
			Role              string `json:"role"`
			CanonicalURL      string `json:"canonical_url"`
			PublicOpenPGPKeys []struct {
				Fingerprint string `json:"fingerprint"`
			} `json:"public_openpgp_keys"`
		}
		e.must(200, "GET", "/.well-known/csaf/provider-metadata.json", "", nil).json(t, &meta)
		if meta.Role != "csaf_trusted_provider" || !strings.HasSuffix(meta.CanonicalURL, "/.well-known/csaf/provider-metadata.json") ||
			len(meta.PublicOpenPGPKeys) != 1 || len(meta.PublicOpenPGPKeys[0].Fingerprint) != 40 {
			t.Errorf("provider metadata %+v", meta)
		}
	})
}
