package cli

import (
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"os"
	"strings"

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
			StartTLS: o.smtp.startTLS, Auth: o.smtp.auth},
		Webhook: notify.WebhookConfig{AllowPrivate: o.webhookAllowPrivate}}
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
