package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPayloadAndUpdateCommands(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	t.Setenv(envOrg, "default")
	dir := t.TempDir()

	// A real Debian package, built by dpkg-deb.
	root := filepath.Join(dir, "root")
	os.MkdirAll(filepath.Join(root, "DEBIAN"), 0o755)
	os.WriteFile(filepath.Join(root, "DEBIAN/control"), []byte("Package: openssl\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nMaintainer: T <t@example.org>\nDescription: test\n"), 0o644)
	deb := filepath.Join(dir, "openssl_3.0.11-1~deb12u2_amd64.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", root, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v %s", err, out)
	}
	out := ok(t, "", "payload", "upload", deb)
	if !strings.Contains(out, "Debian package openssl 3.0.11-1~deb12u2 (amd64)") || !strings.Contains(out, ts.url+"/payloads/sha256/") {
		t.Fatalf("upload:\n%s", out)
	}
	p := jsonOut[apiPayload](t, ok(t, "", "payload", "upload", deb, "-o", "json"))
	if p.DebPackage != "openssl" || len(p.Digest) != 64 {
		t.Fatalf("upload -o json: %+v", p)
	}
	if out := ok(t, "", "payload", "list"); !strings.Contains(out, "openssl_3.0.11-1~deb12u2_amd64.deb") {
		t.Fatalf("payload list:\n%s", out)
	}

	def := filepath.Join(dir, "update.yaml")
	os.WriteFile(def, []byte(`name: openssl-3.0.11-1-deb12u2
title: OpenSSL security update
classification: security
applicability:
  purl: pkg:deb/debian/openssl
  vers: vers:deb/<3.0.11-1~deb12u2
  os_releases: [debian:12]
reboot: never
installer:
  type: deb
  payload: `+p.Digest+"\n"), 0o600)
	out = ok(t, "", "update", "create", "-f", def)
	if !strings.Contains(out, "Created update openssl-3.0.11-1-deb12u2 (security, unknown, installer deb)") {
		t.Fatalf("update create: %s", out)
	}
	if out := ok(t, "", "update", "list", "--classification", "security"); !strings.Contains(out, "pkg:deb/debian/openssl") {
		t.Fatalf("update list:\n%s", out)
	}
	if out := ok(t, "", "update", "show", "openssl-3.0.11-1-deb12u2"); !strings.Contains(out, `"payload": "`+p.Digest) || !strings.Contains(out, `"vers": "vers:deb/<3.0.11-1~deb12u2"`) {
		t.Fatalf("update show:\n%s", out)
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("name: x\ntitle: X\nclassification: security\napplicability: {purl: pkg:deb/debian/openssl}\ninstaller: {type: deb, payload: 0000}\ncolour: red\n"), 0o600)
	fails(t, 1, `unknown field "colour"`, "", "update", "create", "-f", bad)
	fails(t, 2, "--file is required", "", "update", "create")
}
