// Package notify tells subscribers about an organisation's events, by e-mail and webhook.
//
// Other parts record events in the store's events table (store.Tx.AddEvent). Fan-out reads
// them from a durable cursor and enqueues one outbox row per matching subscriber; delivery
// workers lease due rows, send them and mark them sent, with exponential backoff and dead
// letters. Everything in between lives in the database, so a restart loses nothing; see
// docs/notifications.md for the guarantees and their limits.
package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/patchday/patchday/internal/store"
)

// Config configures notifications. Zero fields take the defaults noted.
type Config struct {
	// BaseURL is the server's public URL, for the confirm and unsubscribe links
	// (BaseURL + ConfirmPath, BaseURL + UnsubscribePath). It must be https for one-click
	// unsubscribe (RFC 8058); with http the mails carry List-Unsubscribe only.
	BaseURL string
	// TokenKey (at least 32 bytes, the same on every node) derives the confirm and
	// unsubscribe tokens; see KeyFromSeed.
	TokenKey []byte
	SMTP     SMTPConfig
	Webhook  WebhookConfig

	MaxAttempts  int           // attempts before a delivery becomes a dead letter; default 8
	BackoffBase  time.Duration // delay after the first failure, doubling; default 1 minute
	BackoffMax   time.Duration // longest delay; default 6 hours
	Lease        time.Duration // how long a worker holds a claimed delivery; default twice the longest send, at least 5 minutes
	PollInterval time.Duration // how often Run looks for work; default 2 seconds
	Concurrency  int           // deliveries sent in parallel; default 4
	ClaimBatch   int           // deliveries a worker claims at once; default 20
	// MarkBatch is how many outcomes a worker records in one commit; default 16, 1 records
	// each send on its own. A crash between sends and their commit sends up to this many
	// messages of each worker again (receivers drop repeats by their id).
	MarkBatch    int
	FanOutEvents int // events read per fan-out transaction; default 100

	// DigestLocation sets the days of daily digests: a digest collects the events of one
	// day in this zone and is sent after its midnight. Default UTC.
	DigestLocation *time.Location
	ConfirmTTL     time.Duration // how long a confirmation link works; default 7 days
	Retention      time.Duration // sent deliveries are kept this long; default 30 days

	// Now is the clock, for tests; default time.Now.
	Now func() time.Time
}

// SMTPConfig says how to reach the mail server.
type SMTPConfig struct {
	Host     string
	Port     int    // default 587
	Username string // SMTP AUTH when set
	Password string
	Auth     string // plain (default) or login
	From     string // the From address, e.g. "patchday <patchday@example.org>"
	// StartTLS: opportunistic (default: upgrade when the server offers STARTTLS), mandatory
	// (refuse to send otherwise) or none.
	StartTLS string
	// TLSConfig verifies the server's certificate (RootCAs for a private CA); default the
	// system's roots and Host as the name.
	TLSConfig *tls.Config
	Timeout   time.Duration // per SMTP command; default 30 seconds
	HELO      string        // default the host name of BaseURL
	// UnsubscribeMailto, an address, adds mailto:ADDRESS?subject=unsubscribe%20TOKEN to
	// List-Unsubscribe, for mail clients without one-click support. Optional.
	UnsubscribeMailto string
}

// WebhookConfig limits webhook calls.
type WebhookConfig struct {
	Timeout          time.Duration // whole request; default 10 seconds
	MaxResponseBytes int64         // read at most this much of a response; default 64 KiB
	// AllowPrivate lets webhooks reach loopback, private (RFC 1918, fc00::/7), shared
	// (100.64.0.0/10), link-local and unspecified addresses. Off, such destinations are
	// refused when connecting, after name resolution, so that an organisation's admin
	// cannot make the server probe its own network or a cloud metadata service.
	AllowPrivate bool
}

// StartTLS policies.
const (
	StartTLSOpportunistic = "opportunistic"
	StartTLSMandatory     = "mandatory"
	StartTLSNone          = "none"
)

// Paths under Config.BaseURL that the HTTP layer must serve: GET shows a page with a button,
// POST confirms or unsubscribes (RFC 8058 one-click: POST with the body
// List-Unsubscribe=One-Click). The token is in the query parameter "token".
const (
	ConfirmPath     = "/notify/confirm"
	UnsubscribePath = "/notify/unsubscribe"
)

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	defInt(&c.MaxAttempts, 8)
	def(&c.BackoffBase, time.Minute)
	def(&c.BackoffMax, 6*time.Hour)
	def(&c.PollInterval, 2*time.Second)
	defInt(&c.Concurrency, 4)
	defInt(&c.ClaimBatch, 20)
	defInt(&c.MarkBatch, 16)
	defInt(&c.FanOutEvents, 100)
	def(&c.ConfirmTTL, 7*24*time.Hour)
	def(&c.Retention, 30*24*time.Hour)
	def(&c.SMTP.Timeout, 30*time.Second)
	def(&c.Webhook.Timeout, 10*time.Second)
	// The lease outlasts the longest send twice over, so that a send never outlives its
	// lease and another node never takes a row that is still being sent.
	def(&c.Lease, max(5*time.Minute, 2*c.maxSend()))
	if c.Webhook.MaxResponseBytes <= 0 {
		c.Webhook.MaxResponseBytes = 64 << 10
	}
	if c.SMTP.Port == 0 {
		c.SMTP.Port = 587
	}
	if c.SMTP.StartTLS == "" {
		c.SMTP.StartTLS = StartTLSOpportunistic
	}
	if c.SMTP.Auth == "" {
		c.SMTP.Auth = "plain"
	}
	if c.DigestLocation == nil {
		c.DigestLocation = time.UTC
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (c *Config) validate() error {
	if len(c.TokenKey) < 32 {
		return errors.New("notify: TokenKey must have at least 32 bytes")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("notify: BaseURL %q must be an absolute http(s) URL", c.BaseURL)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	switch c.SMTP.StartTLS {
	case StartTLSOpportunistic, StartTLSMandatory, StartTLSNone:
	default:
		return fmt.Errorf("notify: SMTP StartTLS %q must be opportunistic, mandatory or none", c.SMTP.StartTLS)
	}
	switch c.SMTP.Auth {
	case "plain", "login":
	default:
		return fmt.Errorf("notify: SMTP Auth %q must be plain or login", c.SMTP.Auth)
	}
	if c.SMTP.Host != "" && c.SMTP.From == "" {
		return errors.New("notify: SMTP From is required")
	}
	if c.Lease <= c.maxSend() {
		return fmt.Errorf("notify: Lease %v must be longer than the longest send (%v: the webhook timeout, or %d SMTP timeouts)", c.Lease, c.maxSend(), smtpTimeouts)
	}
	return nil
}

// smtpTimeouts is how many SMTP timeouts one mail may take at worst: connect, greeting,
// STARTTLS, AUTH, MAIL, RCPT, DATA and its end, and once more after a redial.
const smtpTimeouts = 6

// sendTimeout bounds one send of a delivery of the kind.
func (c *Config) sendTimeout(kind string) time.Duration {
	if kind == store.SubscriptionWebhook {
		return c.Webhook.Timeout
	}
	return smtpTimeouts * c.SMTP.Timeout
}

func (c *Config) maxSend() time.Duration {
	return max(c.sendTimeout(store.SubscriptionWebhook), c.sendTimeout(store.SubscriptionEmail))
}

// Notifier runs notifications on one node. Several nodes may run one each on the same
// PostgreSQL database.
type Notifier struct {
	st   *store.Store
	cfg  Config
	log  *slog.Logger
	hook *webhookClient
	wake chan struct{}

	mu         sync.Mutex
	lastPurge  time.Time
	mailDomain string // for Message-IDs
}

// New checks the configuration and returns a Notifier. Without SMTP.Host, e-mail
// deliveries (confirmation requests too) wait in the outbox until a notifier with one
// runs; webhooks are sent.
func New(st *store.Store, cfg Config, log *slog.Logger) (*Notifier, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(cfg.BaseURL)
	if u.Scheme != "https" {
		log.Warn("notify: base URL is not https, so mails carry no one-click unsubscribe (RFC 8058)", "base_url", cfg.BaseURL)
	}
	return &Notifier{st: st, cfg: cfg, log: log, hook: newWebhookClient(cfg.Webhook), wake: make(chan struct{}, 1),
		mailDomain: u.Hostname()}, nil
}

// Wake makes Run look for work now instead of at its next poll, for example right after
// an event was recorded.
func (n *Notifier) Wake() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// Run fans out events, builds digests and delivers, every PollInterval, until ctx ends. It
// returns after the deliveries in flight have been sent and recorded, and after giving back
// the ones claimed but not yet started, so a stop loses nothing and sends nothing twice.
func (n *Notifier) Run(ctx context.Context) {
	tick := time.NewTicker(n.cfg.PollInterval)
	defer tick.Stop()
	for {
		n.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-n.wake:
		}
	}
}

// RunOnce does one round of everything Run does, logging failures: fan-out, digests,
// delivery of everything due, and once an hour the purge of old rows.
func (n *Notifier) RunOnce(ctx context.Context) {
	if _, err := n.FanOut(ctx); err != nil && ctx.Err() == nil {
		n.log.Warn("notify: fan-out", "err", err)
	}
	if _, err := n.BuildDigests(ctx); err != nil && ctx.Err() == nil {
		n.log.Warn("notify: digests", "err", err)
	}
	if _, err := n.Deliver(ctx); err != nil && ctx.Err() == nil {
		n.log.Warn("notify: delivery", "err", err)
	}
	n.mu.Lock()
	due := n.cfg.Now().Sub(n.lastPurge) >= time.Hour
	if due {
		n.lastPurge = n.cfg.Now()
	}
	n.mu.Unlock()
	if due {
		if err := n.Purge(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("notify: purge", "err", err)
		}
	}
}

// Purge deletes sent deliveries older than Retention and e-mail subscriptions never
// confirmed within ConfirmTTL.
func (n *Notifier) Purge(ctx context.Context) error {
	now := n.cfg.Now()
	return n.st.Update(ctx, func(tx *store.Tx) error {
		d, err := tx.PurgeDeliveries(ctx, now.Add(-n.cfg.Retention))
		if err != nil {
			return err
		}
		s, err := tx.PurgeUnconfirmed(ctx, now.Add(-n.cfg.ConfirmTTL))
		if err != nil {
			return err
		}
		if d+s > 0 {
			n.log.Info("notify: purged", "deliveries", d, "unconfirmed_subscriptions", s)
		}
		return nil
	})
}
