package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchday/patchday/internal/blob"
	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/demo"
	"github.com/patchday/patchday/internal/protocol"
	"github.com/patchday/patchday/internal/server"
	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/web"
)

type serveOptions struct {
	listen              string
	data                string
	database            string
	tlsCert             string
	tlsKey              string
	insecureHTTP        bool
	logFormat           string
	logLevel            string
	trustedProxies      []string
	sessionTTL          time.Duration
	maxPayloadMiB       int64
	demo                bool // load the demo catalog on the first start
	shutdownTimeout     time.Duration
	signingKey          string
	previousKeys        []string
	checkInInterval     time.Duration
	declineAfter        time.Duration
	payloadGrace        time.Duration
	historyKeep         time.Duration
	publicURL           string
	webhookAllowPrivate bool
	// The CSAF provider (publishing): its signing key, its organisation, security.txt's contact.
	openpgpKey      string
	csafProviderOrg string
	securityContact string
	smtp            smtpOptions
}

// smtpOptions say how the server sends notification mails.
type smtpOptions struct {
	host, username, passwordFile, from, startTLS, auth string
	caFile, helo, unsubscribeMailto, digestZone        string
	port                                               int
	timeout                                            time.Duration
}

func newServeCmd() *cobra.Command { return newServerCmd(false) }

// newDemoCmd is serve that also loads the demo catalog into a fresh database.
func newDemoCmd() *cobra.Command {
	cmd := newServerCmd(true)
	cmd.Use = "demo"
	cmd.Short = "Run the server with a demo catalog (advisories, updates, products)"
	cmd.Long = `Run the patchday server exactly like "patchday serve", and on the first start (an empty
database) fill the organisation "default" with a demo catalog: a monthly release day of
advisories (a critical remote code execution in a network service, a browser update for
several versions, architectures and languages, a workaround-only advisory with mitigating
factors, a revised advisory), their updates and a payload, and products of which some are
past their end of support. Everything "patchday serve --help" says applies.`
	cmd.Example = `  patchday demo
  patchday demo --data /tmp/patchday-demo --listen 127.0.0.1:9090`
	return cmd
}

func newServerCmd(demo bool) *cobra.Command {
	o := serveOptions{demo: demo}
	var configFile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the patchday server",
		Long: `Run the patchday server: the API under /api/v1, /healthz, /readyz and Prometheus /metrics.

By default it keeps everything in a SQLite database in the data directory; give --database
postgres://... to share one PostgreSQL between several server nodes.

Every setting below can also be given as an environment variable (named after each flag) or
in a YAML config file (--config, keys are the flag names). A flag beats the environment,
and the environment beats the file.

On its first start, on an empty database, the server creates the site administrator
"admin" and the organisation "default". The admin's password is PATCHDAY_ADMIN_PASSWORD
when set (at least 12 characters), else a random one printed once on standard error,
which must be changed ("patchday passwd", or the console) before anything else.

Plain HTTP is served only on loopback addresses; anywhere else give --tls-cert and
--tls-key, or --insecure-http when a TLS-terminating proxy stands in front.`,
		Example: `  patchday serve
  patchday serve --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem
  PATCHDAY_DATABASE=postgres://patchday@db/patchday patchday serve --log-format json
  patchday serve --config /etc/patchday/server.yaml`,
		Args: exactArgs(0),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			if configFile == "" {
				configFile = os.Getenv("PATCHDAY_CONFIG")
			}
			return applyConfig(cmd, configFile)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address to listen on, host:port")
	f.StringVar(&o.data, "data", "./patchday-data", "data directory: the SQLite database (unless --database) and the payloads")
	f.StringVar(&o.database, "database", "", "database URL: postgres://user:pass@host/db for PostgreSQL; empty for SQLite in --data")
	f.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate file (PEM); serves HTTPS with --tls-key")
	f.StringVar(&o.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	f.BoolVar(&o.insecureHTTP, "insecure-http", false, "allow plain HTTP on a non-loopback address (only behind a TLS-terminating proxy)")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringSliceVar(&o.trustedProxies, "trusted-proxy", nil, "CIDR of a reverse proxy whose X-Forwarded-For is believed (repeatable, comma-separated)")
	f.DurationVar(&o.sessionTTL, "session-ttl", 12*time.Hour, "lifetime of the token a login returns")
	f.Int64Var(&o.maxPayloadMiB, "max-payload-mib", server.DefaultMaxPayloadSize>>20, "largest payload an upload may bring, in MiB")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a graceful shutdown waits for requests in flight")
	f.StringVar(&o.signingKey, "signing-key", "", "ed25519 key (PEM, mode 0600) that signs agents' assignments; default <data>/signing.key, created when missing; every node of a cluster needs the same")
	f.StringSliceVar(&o.previousKeys, "previous-signing-key", nil, "an older signing key that agents may still trust; the server vouches for the new key with it (repeatable)")
	f.DurationVar(&o.checkInInterval, "checkin-interval", server.DefaultCheckInInterval, "how often agents check in; the server spreads them over it")
	f.DurationVar(&o.declineAfter, "decline-superseded-after", 30*24*time.Hour, "decline a superseded update no machine needs this long after the newer one arrived (negative: never)")
	f.DurationVar(&o.payloadGrace, "payload-grace", 7*24*time.Hour, "keep a payload no update uses this long before deleting it")
	f.DurationVar(&o.historyKeep, "history-retention", 400*24*time.Hour, "keep state history and install results this long")
	f.StringVar(&o.publicURL, "public-url", "", "the URL users and subscribers reach the server at, for the links in mails (default the listen URL)")
	f.BoolVar(&o.webhookAllowPrivate, "webhook-allow-private", false, "let webhooks call loopback, private and link-local addresses (receivers on your own network); off, the server refuses them so that an organisation admin cannot reach internal services through it")
	f.StringVar(&o.smtp.host, "smtp-host", "", "mail server that notification mails go through (none: e-mail notifications wait in the outbox)")
	f.IntVar(&o.smtp.port, "smtp-port", 587, "its port (587 submission with STARTTLS, 465 is not supported, 25 relay)")
	f.StringVar(&o.smtp.username, "smtp-username", "", "SMTP AUTH user name (none: no authentication)")
	f.StringVar(&o.smtp.passwordFile, "smtp-password-file", "", "file holding the SMTP AUTH password")
	f.StringVar(&o.smtp.auth, "smtp-auth", "plain", "SMTP AUTH mechanism: plain or login (only over TLS)")
	f.StringVar(&o.smtp.from, "smtp-from", "", `the From of notification mails, such as "patchday <security@example.org>" (required with --smtp-host)`)
	f.StringVar(&o.smtp.startTLS, "smtp-starttls", "opportunistic", "STARTTLS: opportunistic (when offered), mandatory (refuse to send without) or none")
	f.StringVar(&o.smtp.caFile, "smtp-ca-file", "", "PEM file of the CA certificates that the mail server's certificate must chain to (default the system's)")
	f.DurationVar(&o.smtp.timeout, "smtp-timeout", 30*time.Second, "how long one SMTP command may take")
	f.StringVar(&o.smtp.helo, "smtp-helo", "", "the name given in EHLO (default the host of --public-url)")
	f.StringVar(&o.smtp.unsubscribeMailto, "smtp-unsubscribe-mailto", "", "an address that takes unsubscribe mails: adds a mailto: to List-Unsubscribe for mail clients without one-click")
	f.StringVar(&o.smtp.digestZone, "digest-timezone", "UTC", "IANA time zone whose days the daily digests cover, such as Europe/Berlin")
	f.StringVar(&o.openpgpKey, "openpgp-key", "", "armored OpenPGP private key (mode 0600) that signs the CSAF provider's documents; default <data>/openpgp.asc, created when missing; every node of a cluster needs the same")
	f.StringVar(&o.csafProviderOrg, "csaf-provider-org", server.InitialOrg, "slug of the organisation whose published advisories the CSAF provider at /.well-known/csaf/ serves and the public sign-up (POST /api/v1/signup) subscribes to")
	f.StringVar(&o.securityContact, "security-contact", "", "the Contact of /.well-known/security.txt, a mailto: or https: URI; default mailto:security@ the public host")
	documentEnv(f)
	f.StringVar(&configFile, "config", "", "YAML config file whose keys are these flags' names [env PATCHDAY_CONFIG]")
	return cmd
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: must be debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format %q: must be text or json", format)}
}

// checkListen refuses plain HTTP on addresses other machines can reach.
func checkListen(o serveOptions) error {
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usageError{errors.New("--tls-cert and --tls-key go together: give both or neither")}
	}
	host, _, err := net.SplitHostPort(o.listen)
	if err != nil {
		return usageError{fmt.Errorf("--listen %q: %w", o.listen, err)}
	}
	if o.tlsCert != "" || o.insecureHTTP {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return nil
	}
	return usageError{fmt.Errorf("--listen %s is not a loopback address: give --tls-cert and --tls-key, "+
		"or --insecure-http if a TLS-terminating proxy is in front", o.listen)}
}

func runServe(ctx context.Context, o serveOptions, stderr io.Writer) error {
	log, err := newLogger(stderr, o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	if err := checkListen(o); err != nil {
		return err
	}
	if o.sessionTTL < time.Minute || o.sessionTTL > 366*24*time.Hour {
		return usageError{fmt.Errorf("--session-ttl %s: must be between 1m and 8784h (366 days)", o.sessionTTL)}
	}
	var proxies []netip.Prefix
	for _, p := range o.trustedProxies {
		pfx, err := netip.ParsePrefix(strings.TrimSpace(p))
		if err != nil {
			return usageError{fmt.Errorf("--trusted-proxy %q: must be a CIDR such as 10.0.0.0/8: %w", p, err)}
		}
		proxies = append(proxies, pfx)
	}
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	st, err := store.Open(ctx, o.database, o.data, log)
	if err != nil {
		return err
	}
	defer st.Close()
	created, pw, err := server.Bootstrap(ctx, st, os.Getenv("PATCHDAY_ADMIN_PASSWORD"))
	if err != nil {
		if os.Getenv("PATCHDAY_ADMIN_PASSWORD") != "" {
			return usageError{fmt.Errorf("PATCHDAY_ADMIN_PASSWORD: %w", err)}
		}
		return err
	}
	if created {
		log.Info("created the site administrator and the default organisation", "user", server.InitialAdmin, "org", server.InitialOrg)
	}

	if o.maxPayloadMiB < 1 || o.maxPayloadMiB > 1<<20 {
		return usageError{fmt.Errorf("--max-payload-mib %d: must be from 1 to %d", o.maxPayloadMiB, 1<<20)}
	}
	// Payloads live in the data directory, also when the database is PostgreSQL.
	blobs, err := blob.OpenDisk(filepath.Join(o.data, "blobs"), blob.DiskOptions{})
	if err != nil {
		return err
	}
	if created && o.demo {
		if err := demo.Load(ctx, st, blobs, server.InitialOrg, time.Now()); err != nil {
			return fmt.Errorf("load the demo catalog: %w", err)
		}
		log.Info("loaded the demo catalog", "org", server.InitialOrg)
	}
	if o.checkInInterval < 10*time.Second || o.checkInInterval > 24*time.Hour {
		return usageError{fmt.Errorf("--checkin-interval %s: must be between 10s and 24h", o.checkInInterval)}
	}
	if o.signingKey == "" {
		o.signingKey = filepath.Join(o.data, "signing.key")
	}
	key, keyCreated, err := protocol.LoadOrCreateKey(o.signingKey)
	if err != nil {
		return err
	}
	if keyCreated {
		log.Info("created the signing key; back it up: agents trust only it", "path", o.signingKey)
	}
	var previous []ed25519.PrivateKey
	for _, p := range o.previousKeys {
		k, err := protocol.LoadKey(p)
		if err != nil {
			return err
		}
		previous = append(previous, k)
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
	}
	url := scheme + "://" + ln.Addr().String()
	notifier, err := newNotifier(st, o, url, key, log)
	if err != nil {
		ln.Close()
		return err
	}
	if o.openpgpKey == "" {
		o.openpgpKey = filepath.Join(o.data, "openpgp.asc")
	}
	pgpKey, pgpCreated, err := csaf.LoadOrCreateOpenPGPKey(o.openpgpKey, "patchday CSAF provider", "")
	if err != nil {
		return err
	}
	if pgpCreated {
		log.Info("created the OpenPGP key of the CSAF provider; back it up", "path", o.openpgpKey, "fingerprint", pgpKey.Fingerprint())
	}
	if o.securityContact != "" && !strings.HasPrefix(o.securityContact, "mailto:") && !strings.HasPrefix(o.securityContact, "https://") && !strings.HasPrefix(o.securityContact, "tel:") {
		return usageError{fmt.Errorf("--security-contact %q: must be a mailto:, https: or tel: URI", o.securityContact)}
	}
	srv := server.New(server.Config{Store: st, Logger: log,
		OpenPGPKey: pgpKey, CSAFProviderOrg: o.csafProviderOrg, PublicURL: strings.TrimSuffix(o.publicURL, "/"), SecurityContact: o.securityContact, Version: Version, TrustedProxies: proxies,
		SessionTTL: o.sessionTTL, Blobs: blobs, MaxPayloadSize: o.maxPayloadMiB << 20,
		SigningKey: key, PreviousSigningKeys: previous, CheckInInterval: o.checkInInterval,
		DeclineSupersededAfter: o.declineAfter, PayloadGrace: o.payloadGrace, HistoryRetention: o.historyKeep, Notifier: notifier})
	// The console shares the listener: the API's paths go to the server, the rest to the
	// console, which calls the server in process. Its CSRF key derives from the signing key,
	// which every node of a cluster shares.
	consoleKey := sha256.Sum256(append([]byte("patchday console key\x00"), key.Seed()...))
	console, err := web.New(web.Config{API: srv, Key: consoleKey[:], TrustedProxies: proxies, Logger: log})
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           web.Mux(srv, console),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
	log.Info("listening", "addr", ln.Addr().String(), "url", url, "engine", st.Engine(), "version", Version)
	signIn := ""
	if created {
		signIn = " (sign in as " + server.InitialAdmin + ")"
	}
	fmt.Fprintf(stderr, "\n  patchday is running at %s\n  Console:               %s/%s\n", url, url, signIn)
	if created {
		shown := "(the value of PATCHDAY_ADMIN_PASSWORD)"
		if os.Getenv("PATCHDAY_ADMIN_PASSWORD") == "" {
			shown = pw + "   (shown only now)"
		}
		fmt.Fprintf(stderr, "  Initial administrator: %s\n  Initial password:      %s\n"+
			"  Next: patchday login --server %s --user %s, then patchday passwd\n", server.InitialAdmin, shown, url, server.InitialAdmin)
		if o.demo {
			fmt.Fprintf(stderr, "  Demo catalog: patchday advisory list --org %s; patchday update list --org %s\n", server.InitialOrg, server.InitialOrg)
		}
	}
	fmt.Fprintln(stderr)

	bgDone := make(chan struct{})
	bgCtx, stopBackground := context.WithCancel(context.Background())
	go func() {
		defer close(bgDone)
		srv.Background(bgCtx)
	}()
	defer func() {
		stopBackground()
		<-bgDone
	}()

	errc := make(chan error, 1)
	go func() {
		if o.tlsCert != "" {
			errc <- hs.ServeTLS(ln, o.tlsCert, o.tlsKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", o.shutdownTimeout)
	srv.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
