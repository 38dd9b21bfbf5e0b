package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/patchday/patchday/internal/store"
)

type updateResp struct {
	store.Update
	Relations store.UpdateRelations
}

func TestUpdates(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.must(201, "POST", "/api/v1/orgs/default/advisories", e.admin, minimalCSAF(t))
		deb := buildDeb(t, "openssl", "3.0.11-1~deb12u2", "amd64")
		e.must(201, "PUT", "/api/v1/orgs/default/payloads", e.admin, deb)
		d := digestOf(deb)
		script := "#!/bin/sh\necho installed\n"
		e.must(201, "PUT", "/api/v1/orgs/default/payloads?filename=agent.tar.gz", e.admin, script)

		deb1 := map[string]any{
			"name": "openssl-3.0.11-1-deb12u2", "title": "OpenSSL security update", "classification": "security",
			"advisories":    []string{"EXAMPLE-2026-0001"},
			"applicability": map[string]any{"purl": "pkg:deb/debian/openssl", "vers": "vers:deb/<3.0.11-1~deb12u2", "os_releases": []string{"debian:12"}},
			"installer":     map[string]any{"type": "deb", "payload": d},
		}
		var u updateResp
		e.must(201, "POST", "/api/v1/orgs/default/updates", e.admin, deb1).json(t, &u)
		if u.Installer != "deb" || u.PayloadID == nil || u.Severity != "unknown" || len(u.Relations.Advisories) != 1 ||
			!strings.Contains(string(u.Definition), `"architectures":["amd64"]`) || !strings.Contains(string(u.Definition), `"reboot":"maybe"`) {
			t.Fatalf("deb update: %+v %s", u, u.Definition)
		}
		apt := map[string]any{
			"name": "openssl-apt", "title": "OpenSSL from the archive", "classification": "security", "severity": "high",
			"applicability": map[string]any{"purl": "pkg:deb/debian/openssl", "vers": "vers:deb/<3.0.12-1"},
			"installer":     map[string]any{"type": "apt"},
			"supersedes":    []string{"openssl-3.0.11-1-deb12u2"},
		}
		e.must(201, "POST", "/api/v1/orgs/default/updates", e.admin, apt).json(t, &u)
		if !strings.Contains(string(u.Definition), `"package":"openssl","version":"3.0.12-1"`) || len(u.Relations.Supersedes) != 1 {
			t.Fatalf("apt update: %s %+v", u.Definition, u.Relations)
		}
		art := map[string]any{
			"name": "tool-1.2", "title": "Tool 1.2", "classification": "feature", "reboot": "never",
			"applicability": map[string]any{"purl": "pkg:generic/example/tool", "languages": []string{"en", "de-CH"}},
			"installer":     map[string]any{"type": "artifact", "payload": digestOf([]byte(script)), "command": []string{"sh", "install.sh"}},
		}
		e.must(201, "POST", "/api/v1/orgs/default/updates", e.admin, art)

		e.must(200, "GET", "/api/v1/orgs/default/updates/openssl-3.0.11-1-deb12u2", e.admin, nil).json(t, &u)
		if len(u.Relations.SupersededBy) != 1 || u.Relations.SupersededBy[0] != "openssl-apt" {
			t.Fatalf("superseded_by: %+v", u.Relations)
		}
		var list struct{ Items []store.Update }
		e.must(200, "GET", "/api/v1/orgs/default/updates?advisory=EXAMPLE-2026-0001", e.admin, nil).json(t, &list)
		if len(list.Items) != 1 || list.Items[0].Name != "openssl-3.0.11-1-deb12u2" {
			t.Fatalf("list by advisory: %+v", list.Items)
		}
		e.must(200, "GET", "/api/v1/orgs/default/updates?classification=feature", e.admin, nil).json(t, &list)
		if len(list.Items) != 1 || list.Items[0].Name != "tool-1.2" {
			t.Fatalf("list by classification: %+v", list.Items)
		}

		with := func(base map[string]any, path string, v any) map[string]any {
			out := map[string]any{}
			for k, x := range base {
				out[k] = x
			}
			out["name"] = "variant"
			parts := strings.Split(path, ".")
			if len(parts) == 2 {
				inner := map[string]any{}
				for k, x := range base[parts[0]].(map[string]any) {
					inner[k] = x
				}
				inner[parts[1]] = v
				out[parts[0]] = inner
			} else {
				out[path] = v
			}
			return out
		}
		before := e.auditCount()
		for _, tc := range []struct {
			name  string
			body  map[string]any
			field string
		}{
			{"duplicate name", with(deb1, "name", "openssl-apt"), "name"},
			{"bad name", with(deb1, "name", "no spaces"), "name"},
			{"bad classification", with(deb1, "classification", "urgent"), "classification"},
			{"unknown advisory", with(deb1, "advisories", []string{"NOPE-1"}), "advisories[0]"},
			{"broken vers", with(deb1, "applicability.vers", "vers:deb/<"), "applicability.vers"},
			{"vers scheme mismatch", with(deb1, "applicability.vers", "vers:npm/<1.0"), "applicability.vers"},
			{"bad purl", with(deb1, "applicability.purl", "openssl"), "applicability.purl"},
			{"payload of another package", with(deb1, "applicability.purl", "pkg:deb/debian/libssl3"), "applicability.purl"},
			{"payload of another version", with(deb1, "applicability.vers", "vers:deb/<3.0.13-1"), "applicability.vers"},
			{"payload of another architecture", with(deb1, "applicability.architectures", []string{"arm64"}), "applicability.architectures"},
			{"payload for more architectures", with(deb1, "applicability.architectures", []string{"amd64", "arm64"}), "applicability.architectures"},
			{"deb without an upper bound", with(deb1, "applicability.vers", "vers:deb/*"), "applicability.vers"},
			{"deb with a lower bound only", with(deb1, "applicability.vers", "vers:deb/>=1.0"), "applicability.vers"},
			{"empty range", with(deb1, "applicability.vers", "vers:deb/>=5.0|<3.0.11-1~deb12u2"), "applicability.vers"},
			{"not a Debian version", with(apt, "applicability.vers", "vers:deb/<a:1"), "applicability.vers"},
			{"unknown payload", with(deb1, "installer", map[string]any{"type": "deb", "payload": strings.Repeat("b", 64)}), "installer.payload"},
			{"not a deb", with(deb1, "installer", map[string]any{"type": "deb", "payload": digestOf([]byte(script))}), "installer.payload"},
			{"bad installer", with(deb1, "installer", map[string]any{"type": "msi"}), "installer.type"},
			{"apt version disagrees", with(apt, "installer", map[string]any{"type": "apt", "version": "3.0.13-1"}), "installer.version"},
			{"unknown superseded", with(apt, "supersedes", []string{"ghost"}), "supersedes[0]"},
			{"artifact without command", with(art, "installer", map[string]any{"type": "artifact", "payload": digestOf([]byte(script))}), "installer.command"},
			{"bad language", with(art, "applicability.languages", []string{"not a tag"}), "applicability.languages[0]"},
			{"bad reboot", with(art, "reboot", "sometimes"), "reboot"},
		} {
			r := e.do("POST", "/api/v1/orgs/default/updates", e.admin, tc.body)
			if r.status != 400 || r.err(t).Error.Field != tc.field {
				t.Errorf("%s: %d %s, want 400 field %s", tc.name, r.status, r.body, tc.field)
			}
		}
		if n := e.auditCount(); n != before {
			t.Errorf("refused updates were audited")
		}
	})
}

// An organisation's update cannot name another organisation's advisory, update or payload,
// and another organisation's advisory id answers 404.
func TestCatalogReferencesStayInTheOrganisation(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		e.createOrg("b")
		alice := e.createUser("a", "alice", store.RoleAdmin)
		bob := e.createUser("b", "bob", store.RoleAdmin)
		var adv importResult
		e.must(201, "POST", "/api/v1/orgs/b/advisories", bob, minimalCSAF(t)).json(t, &adv)
		e.must(201, "PUT", "/api/v1/orgs/b/payloads", bob, "b's payload")
		e.must(201, "POST", "/api/v1/orgs/b/updates", bob, aptUpdate("b-update"))

		for field, body := range map[string]map[string]any{
			"advisories[0]": func() map[string]any { u := aptUpdate("x1"); u["advisories"] = []string{"EXAMPLE-2026-0001"}; return u }(),
			"supersedes[0]": func() map[string]any { u := aptUpdate("x2"); u["supersedes"] = []string{"b-update"}; return u }(),
			"installer.payload": {"name": "x3", "title": "X", "classification": "feature",
				"applicability": map[string]any{"purl": "pkg:generic/x"},
				"installer":     map[string]any{"type": "artifact", "payload": digestOf([]byte("b's payload")), "command": []string{"sh"}}},
		} {
			r := e.do("POST", "/api/v1/orgs/a/updates", alice, body)
			if r.status != 400 || r.err(t).Error.Field != field {
				t.Errorf("%s of another organisation: %d %s", field, r.status, r.body)
			}
		}
		for _, path := range []string{
			fmt.Sprintf("/api/v1/orgs/a/advisories/%d", adv.Advisory.ID),
			fmt.Sprintf("/api/v1/orgs/a/advisories/%d/csaf", adv.Advisory.ID),
			"/api/v1/orgs/a/updates/b-update",
		} {
			e.must(404, "GET", path, alice, nil)
		}
	})
}
