package cli

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/patchday/patchday/internal/notify"
	"github.com/patchday/patchday/internal/store"
)

// newNotifier builds the notifier from the serve options. Its link tokens derive from the
// signing key, which every node of a cluster shares, so a link works whichever node answers.
func newNotifier(st *store.Store, o serveOptions, listenURL string, key ed25519.PrivateKey, log *slog.Logger) (*notify.Notifier, error) {
	base := o.publicURL
	if base == "" {
		base = listenURL
	}
	cfg := notify.Config{BaseURL: base, TokenKey: notify.KeyFromSeed(key.Seed()),
		SMTP: notify.SMTPConfig{Host: o.smtp.host, Port: o.smtp.port, Username: o.smtp.username, From: o.smtp.from,
			StartTLS: o.smtp.startTLS, Auth: o.smtp.auth, Timeout: o.smtp.timeout, HELO: o.smtp.helo,
			UnsubscribeMailto: o.smtp.unsubscribeMailto},
		Webhook: notify.WebhookConfig{AllowPrivate: o.webhookAllowPrivate}}
	switch o.smtp.startTLS {
	case notify.StartTLSOpportunistic, notify.StartTLSMandatory, notify.StartTLSNone:
	default:
		return nil, usageError{fmt.Errorf("--smtp-starttls %q: must be opportunistic, mandatory or none", o.smtp.startTLS)}
	}
	if o.smtp.auth != "plain" && o.smtp.auth != "login" {
		return nil, usageError{fmt.Errorf("--smtp-auth %q: must be plain or login", o.smtp.auth)}
	}
	if o.smtp.timeout <= 0 {
		return nil, usageError{fmt.Errorf("--smtp-timeout %s: must be positive", o.smtp.timeout)}
	}
	loc, err := time.LoadLocation(o.smtp.digestZone)
	if err != nil || o.smtp.digestZone == "" || o.smtp.digestZone == "Local" {
		return nil, usageError{fmt.Errorf("--digest-timezone %q: must be an IANA time zone such as Europe/Berlin", o.smtp.digestZone)}
	}
	cfg.DigestLocation = loc
	if o.smtp.caFile != "" {
		b, err := os.ReadFile(o.smtp.caFile)
		if err != nil {
			return nil, fmt.Errorf("--smtp-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, usageError{fmt.Errorf("--smtp-ca-file %s: holds no PEM certificate", o.smtp.caFile)}
		}
		cfg.SMTP.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if o.smtp.port < 1 || o.smtp.port > 65535 {
		return nil, usageError{fmt.Errorf("--smtp-port %d: must be from 1 to 65535", o.smtp.port)}
	}
	if o.smtp.passwordFile != "" {
		b, err := os.ReadFile(o.smtp.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("--smtp-password-file: %w", err)
		}
		cfg.SMTP.Password = strings.TrimRight(string(b), "\r\n")
	}
	if o.smtp.host != "" && o.smtp.from == "" {
		return nil, usageError{fmt.Errorf("--smtp-from is required with --smtp-host")}
	}
	n, err := notify.New(st, cfg, log)
	if err != nil {
		return nil, usageError{err}
	}
	if o.smtp.host == "" {
		log.Info("no --smtp-host: e-mail notifications wait in the outbox until one is configured; webhooks are sent")
	}
	return n, nil
}
