package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/patchday/patchday/internal/store"
)

func TestProducts(t *testing.T) {
	forEngines(t, func(t *testing.T, e *env) {
		e.createOrg("a")
		create := func(body map[string]string) store.Product {
			t.Helper()
			var p store.Product
			e.must(201, "POST", "/api/v1/orgs/a/products", e.admin, body).json(t, &p)
			return p
		}
		sql := create(map[string]string{"vendor": "Microsoft", "name": "SQL Server", "version_line": "2000",
			"cpe": "cpe:2.3:a:microsoft:sql_server:2000:*:*:*:*:*:*:*", "released_on": "2000-11-30",
			"mainstream_end": "2008-04-08", "extended_end": "2013-04-09"})
		ossl := create(map[string]string{"vendor": "OpenSSL", "name": "OpenSSL", "version_line": "3.0",
			"purl": "pkg:deb/debian/openssl", "mainstream_end": "2026-09-07"})
		create(map[string]string{"vendor": "Mozilla", "name": "Firefox ESR", "version_line": "128"})

		var got store.Product
		e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/a/products/%d", sql.ID), e.admin, nil).json(t, &got)
		if got.CPE != sql.CPE || got.ExtendedEnd != "2013-04-09" || got.SupportEnd() != "2013-04-09" {
			t.Fatalf("stored product %+v", got)
		}

		// A partial update keeps what it does not name, and "" clears.
		e.must(200, "PATCH", fmt.Sprintf("/api/v1/orgs/a/products/%d", ossl.ID), e.admin,
			map[string]any{"extended_end": "2027-09-07", "purl": ""}).json(t, &got)
		if got.MainstreamEnd != "2026-09-07" || got.ExtendedEnd != "2027-09-07" || got.PURL != "" || got.Name != "OpenSSL" {
			t.Fatalf("updated product %+v", got)
		}

		list := func(query string) string {
			t.Helper()
			var page struct{ Items []store.Product }
			e.must(200, "GET", "/api/v1/orgs/a/products"+query, e.admin, nil).json(t, &page)
			var names []string
			for _, p := range page.Items {
				names = append(names, p.Name)
			}
			return strings.Join(names, ",")
		}
		for q, want := range map[string]string{
			"":                     "SQL Server,OpenSSL,Firefox ESR",
			"?vendor=mozilla":      "Firefox ESR",
			"?q=sql_server":        "SQL Server",
			"?ended_by=2027-01-01": "SQL Server",
			"?ended_by=2028-01-01": "SQL Server,OpenSSL",
		} {
			if got := list(q); got != want {
				t.Errorf("list%s = %q, want %q", q, got, want)
			}
		}

		var report struct {
			Items []struct {
				Name         string
				SupportEnded string `json:"support_ended"`
				DaysSince    int    `json:"days_since"`
			}
		}
		e.must(200, "GET", "/api/v1/orgs/a/reports/end-of-support?on=2013-04-19", e.admin, nil).json(t, &report)
		if len(report.Items) != 1 || report.Items[0].Name != "SQL Server" || report.Items[0].SupportEnded != "2013-04-09" || report.Items[0].DaysSince != 10 {
			t.Fatalf("end-of-support report %+v", report.Items)
		}

		before := e.auditCount()
		for _, tc := range []struct {
			name, method, path string
			body               map[string]any
			status             int
			field              string
		}{
			{"missing vendor", "POST", "/api/v1/orgs/a/products", map[string]any{"name": "X"}, 400, "vendor"},
			{"bad cpe", "POST", "/api/v1/orgs/a/products", map[string]any{"vendor": "V", "name": "X", "cpe": "cpe:/a:microsoft:sql_server"}, 400, "cpe"},
			{"bad purl", "POST", "/api/v1/orgs/a/products", map[string]any{"vendor": "V", "name": "X", "purl": "deb/openssl"}, 400, "purl"},
			{"bad date", "POST", "/api/v1/orgs/a/products", map[string]any{"vendor": "V", "name": "X", "mainstream_end": "2026-02-30"}, 400, "mainstream_end"},
			{"dates out of order", "POST", "/api/v1/orgs/a/products", map[string]any{"vendor": "V", "name": "X", "mainstream_end": "2030-01-01", "extended_end": "2029-01-01"}, 400, "extended_end"},
			{"release after end", "PATCH", fmt.Sprintf("/api/v1/orgs/a/products/%d", sql.ID), map[string]any{"released_on": "2020-01-01"}, 400, "mainstream_end"},
			{"wrong type", "PATCH", fmt.Sprintf("/api/v1/orgs/a/products/%d", sql.ID), map[string]any{"name": 7}, 400, "name"},
			{"duplicate", "POST", "/api/v1/orgs/a/products", map[string]any{"vendor": "Mozilla", "name": "Firefox ESR", "version_line": "128"}, 409, ""},
			{"rename onto another", "PATCH", fmt.Sprintf("/api/v1/orgs/a/products/%d", ossl.ID), map[string]any{"vendor": "Mozilla", "name": "Firefox ESR", "version_line": "128"}, 409, ""},
			{"unknown product", "PATCH", "/api/v1/orgs/a/products/999", map[string]any{"name": "x"}, 404, ""},
			{"bad id", "GET", "/api/v1/orgs/a/products/x", nil, 400, "id"},
			{"bad report date", "GET", "/api/v1/orgs/a/reports/end-of-support?on=soon", nil, 400, "on"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var body any
				if tc.body != nil {
					body = tc.body
				}
				r := e.do(tc.method, tc.path, e.admin, body)
				if r.status != tc.status || r.err(t).Error.Field != tc.field {
					t.Fatalf("status %d, body %s; want %d field %q", r.status, r.body, tc.status, tc.field)
				}
			})
		}
		if n := e.auditCount(); n != before {
			t.Errorf("refused product changes were audited: %d -> %d", before, n)
		}
		e.must(200, "GET", fmt.Sprintf("/api/v1/orgs/a/products/%d", sql.ID), e.admin, nil).json(t, &got)
		if got.ReleasedOn != "2000-11-30" {
			t.Errorf("a refused update changed the product: %+v", got)
		}
	})
}
