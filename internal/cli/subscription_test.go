package cli

import (
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	fails(t, 1, "min_severity", "", "subscription", "create", "--email", "x@example.org", "--min-severity", "urgent")
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
	if out := ok(t, "", "subscription", "show", "2"); !strings.Contains(out, "severity>=critical") || !strings.Contains(out, "awaiting confirmation") {
		t.Errorf("show: %s", out)
	}
	if out := ok(t, "", "subscription", "enable", "1"); !strings.Contains(out, "Enabled subscription 1") {
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
	base := serveOptions{smtp: smtpOptions{port: 587, startTLS: "opportunistic", auth: "plain"}}
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
		{"bad STARTTLS", func(o *serveOptions) { o.smtp.startTLS = "sometimes" }, "StartTLS"},
		{"bad public URL", func(o *serveOptions) { o.publicURL = "ftp://x" }, "BaseURL"},
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
