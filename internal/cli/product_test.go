package cli

import (
	"regexp"
	"strings"
	"testing"
)

func TestProductCommands(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	t.Setenv(envOrg, "default")

	out := ok(t, "", "product", "create", "--vendor", "Microsoft", "--name", "SQL Server", "--version-line", "2000",
		"--cpe", "cpe:2.3:a:microsoft:sql_server:2000:*:*:*:*:*:*:*", "--mainstream-end", "2008-04-08", "--extended-end", "2013-04-09")
	if !regexp.MustCompile(`^Created product (\d+): Microsoft SQL Server 2000\n$`).MatchString(out) {
		t.Fatalf("create: %q", out)
	}
	ok(t, "", "product", "create", "--vendor", "OpenSSL", "--name", "OpenSSL", "--version-line", "3.0", "--purl", "pkg:deb/debian/openssl")

	out = ok(t, "", "product", "list")
	if !regexp.MustCompile(`(?m)^ID\s+VENDOR\s+NAME\s+VERSION\s+MAINSTREAM END\s+EXTENDED END\s+IDENTIFIER$`).MatchString(out) ||
		!strings.Contains(out, "pkg:deb/debian/openssl") || !strings.Contains(out, "2013-04-09") {
		t.Fatalf("list:\n%s", out)
	}
	ps := jsonOut[[]apiProduct](t, ok(t, "", "product", "list", "--vendor", "openssl", "-o", "json"))
	if len(ps) != 1 || ps[0].PURL != "pkg:deb/debian/openssl" {
		t.Fatalf("list --vendor: %+v", ps)
	}

	ok(t, "", "product", "update", "2", "--mainstream-end", "2026-09-07", "--purl", "")
	p := jsonOut[apiProduct](t, ok(t, "", "product", "show", "2", "-o", "json"))
	if p.MainstreamEnd != "2026-09-07" || p.PURL != "" || p.Name != "OpenSSL" {
		t.Fatalf("after update: %+v", p)
	}

	out = ok(t, "", "report", "end-of-support", "--on", "2027-01-01")
	if !regexp.MustCompile(`(?m)^1\s+Microsoft\s+SQL Server\s+2000\s+2013-04-09\s+5015$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^2\s+OpenSSL\s+OpenSSL\s+3\.0\s+2026-09-07\s+116$`).MatchString(out) {
		t.Fatalf("end-of-support report:\n%s", out)
	}

	fails(t, 1, "cpe must be a CPE 2.3 formatted string", "", "product", "create", "--vendor", "V", "--name", "N", "--cpe", "nonsense")
	fails(t, 2, "--name is required", "", "product", "create", "--vendor", "V")
	fails(t, 2, "nothing to change", "", "product", "update", "1")
	fails(t, 1, "product 99 not found", "", "product", "show", "99")
}
