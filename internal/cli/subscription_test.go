package cli

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

func TestSubscriptions(t *testing.T) {
	ts := newTestServer(t)
	cliEnv(t)
	loginAdmin(t, ts)
	t.Setenv(envOrg, "default")
	out := ok(t, "", "subscription", "create", "--webhook", "http://127.0.0.1:9/hook", "--event", "advisory.published", "--event", "rollout.halted")
	if !strings.Contains(out, "Created webhook subscription 1") || !strings.Contains(out, "Signing secret (shown only now") {
		t.Errorf("create webhook: %s", out)
	}
	out = ok(t, "", "subscription", "create", "--email", "SecOps@Example.org", "--min-severity", "high", "--digest", "daily")
	if !strings.Contains(out, "Created e-mail subscription 2 for secops@example.org (severity>=high)") {
		t.Errorf("create e-mail: %s", out)
	}
	fails(t, 2, "--email or --webhook", "", "subscription", "create")
	fails(t, 1, "--min-severity must be", "", "subscription", "create", "--email", "x@example.org", "--min-severity", "urgent")
	fails(t, 1, "exists", "", "subscription", "create", "--email", "secops@example.org")
	list := ok(t, "", "subscription", "list")
	for _, want := range []string{"http://127.0.0.1:9/hook", "events=advisory.published,rollout.halted", "active", "secops@example.org", "awaiting confirmation", "daily"} {
		if !strings.Contains(list, want) {
			t.Errorf("list lacks %q:\n%s", want, list)
		}
	}
	if out := ok(t, "", "subscription", "update", "2", "--min-severity", "critical"); !strings.Contains(out, "severity>=critical") {
		t.Errorf("update: %s", out)
	}
	if out := ok(t, "", "subscription", "show", "2"); !strings.Contains(out, "severity>=critical") || !strings.Contains(out, "awaiting confirmation") ||
		!strings.Contains(out, "daily") {
		t.Errorf("show after changing the severity only (digest daily kept): %s", out)
	}
	// An empty value removes a filter; what is not given stays.
	ok(t, "", "subscription", "update", "1", "--product", "OpenSSL")
	if out := ok(t, "", "subscription", "update", "1", "--event", ""); strings.Contains(out, "events=") || !strings.Contains(out, "OpenSSL") {
		t.Errorf("update --event \"\": %s", out)
	}
	fails(t, 2, "nothing to change", "", "subscription", "update", "1")
	if out := ok(t, "", "subscription", "enable", "1"); !strings.Contains(out, "Enabled subscription 1: active") {
		t.Errorf("enable: %s", out)
	}
	fails(t, 1, "not found", "", "subscription", "enable", "99")
	ok(t, "", "subscription", "delete", "1")
	fails(t, 1, "not found", "", "subscription", "show", "1")
	if out := ok(t, "", "dead-letter", "list"); strings.Contains(out, "webhook") {
		t.Errorf("dead letters: %s", out)
	}
	fails(t, 1, "not found", "", "dead-letter", "retry", "99")
}

// The serve settings of notifications are checked before the server starts.
func TestNotifierSettings(t *testing.T) {
	st := storetest.Open(t, store.SQLite)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	base := serveOptions{smtp: smtpOptions{port: 587, startTLS: "opportunistic", auth: "plain", timeout: 30 * time.Second, digestZone: "UTC"}}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, testCACert(t), 0o644)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	for _, tc := range []struct {
		name string
		set  func(*serveOptions)
		want string // in the error; "" for none
	}{
		{"no SMTP", func(o *serveOptions) {}, ""},
		{"SMTP", func(o *serveOptions) {
			o.smtp.host, o.smtp.from, o.smtp.passwordFile = "127.0.0.1", "p <p@example.org>", pw
		}, ""},
		{"no from", func(o *serveOptions) { o.smtp.host = "127.0.0.1" }, "--smtp-from"},
		{"bad port", func(o *serveOptions) { o.smtp.port = 0 }, "--smtp-port"},
		{"missing password file", func(o *serveOptions) { o.smtp.passwordFile = pw + ".gone" }, "--smtp-password-file"},
		{"bad STARTTLS", func(o *serveOptions) { o.smtp.startTLS = "sometimes" }, "--smtp-starttls"},
		{"bad AUTH", func(o *serveOptions) { o.smtp.auth = "cram-md5" }, "--smtp-auth"},
		{"bad public URL", func(o *serveOptions) { o.publicURL = "ftp://x" }, "BaseURL"},
		{"digest zone", func(o *serveOptions) { o.smtp.digestZone = "Europe/Berlin" }, ""},
		{"bad digest zone", func(o *serveOptions) { o.smtp.digestZone = "Mars/Olympus" }, "--digest-timezone"},
		{"no timeout", func(o *serveOptions) { o.smtp.timeout = 0 }, "--smtp-timeout"},
		{"CA file", func(o *serveOptions) { o.smtp.caFile = ca }, ""},
		{"missing CA file", func(o *serveOptions) { o.smtp.caFile = ca + ".gone" }, "--smtp-ca-file"},
		{"CA file without a certificate", func(o *serveOptions) { o.smtp.caFile = notPEM }, "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.set(&o)
			_, err := newNotifier(st, o, "http://127.0.0.1:8080", key, slog.New(slog.DiscardHandler))
			if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("newNotifier: %v, want %q", err, tc.want)
			}
		})
	}
}

// testCACert returns a self-signed CA certificate in PEM.
func testCACert(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now(),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
