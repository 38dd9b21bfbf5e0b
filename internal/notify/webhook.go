package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/patchday/patchday/internal/store"
)

// Webhook request headers. The body is the JSON Message (or, never for webhooks, a digest).
//
//	Patchday-Event:      the event type, e.g. advisory.published
//	Patchday-Delivery:   the delivery's id, the same on every retry: receivers drop repeats by it
//	Patchday-Timestamp:  when this attempt was signed, in Unix seconds
//	Patchday-Signature:  v1=hex(HMAC-SHA256(secret, timestamp + "." + body))
//
// A receiver recomputes the signature over the exact bytes it received and refuses the call
// when it differs or when the timestamp is further than its window (five minutes) from its
// clock: a captured request cannot be replayed later. VerifyWebhook does both.
const (
	HeaderEvent     = "Patchday-Event"
	HeaderDelivery  = "Patchday-Delivery"
	HeaderTimestamp = "Patchday-Timestamp"
	HeaderSignature = "Patchday-Signature"
	signatureScheme = "v1="
)

// DefaultReplayWindow is the replay window receivers should use.
const DefaultReplayWindow = 5 * time.Minute

type webhookClient struct {
	http    *http.Client
	maxBody int64
}

func newWebhookClient(cfg WebhookConfig) *webhookClient {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	if !cfg.AllowPrivate {
		guardTransport(t)
	}
	return &webhookClient{maxBody: cfg.MaxResponseBytes, http: &http.Client{
		Timeout:   cfg.Timeout,
		Transport: t,
		// A redirect would send the signed body somewhere the subscriber did not name.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Sign returns the Patchday-Signature value for a body sent at the time.
func Sign(secret string, timestamp time.Time, body []byte) string {
	return signatureScheme + hex.EncodeToString(mac(secret, strconv.FormatInt(timestamp.Unix(), 10), body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors of VerifyWebhook.
var (
	ErrBadSignature = errors.New("webhook: signature does not match")
	ErrStale        = errors.New("webhook: timestamp outside the replay window")
)

// VerifyWebhook checks a webhook call as a receiver must: the signature over the timestamp
// and the exact body, and a timestamp within window of now (either way, for clock skew).
// A window of 0 means DefaultReplayWindow.
func VerifyWebhook(secret string, header http.Header, body []byte, now time.Time, window time.Duration) error {
	if window <= 0 {
		window = DefaultReplayWindow
	}
	ts := header.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook: bad %s %q", HeaderTimestamp, ts)
	}
	// Check the signature first, so that a forged timestamp cannot tell anything apart.
	got, ok := strings.CutPrefix(header.Get(HeaderSignature), signatureScheme)
	sig, err := hex.DecodeString(got)
	if !ok || err != nil || !hmac.Equal(sig, mac(secret, ts, body)) {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > window || d < -window {
		return fmt.Errorf("%w (%s old)", ErrStale, d.Round(time.Second))
	}
	return nil
}

// sendWebhook POSTs one delivery. 2xx is delivered, 410 Gone disables the subscription,
// anything else (other statuses, timeouts, refused connections) is retried.
func (n *Notifier) sendWebhook(ctx context.Context, d *store.ClaimedDelivery) result {
	body := []byte(d.Payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Subscription.Address, bytes.NewReader(body))
	if err != nil {
		return result{err: fmt.Errorf("webhook request: %w", err), permanent: true}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "patchday-webhook/1")
	req.Header.Set(HeaderEvent, d.Kind)
	req.Header.Set(HeaderDelivery, strconv.FormatInt(d.ID, 10))
	now := n.cfg.Now()
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(d.Subscription.Secret, now, body))
	resp, err := n.hook.http.Do(req)
	if err != nil {
		// A refused destination stays refused: straight to the dead letters, with the reason.
		return result{err: fmt.Errorf("webhook: %w", err), permanent: errors.Is(err, ErrPrivateAddress)}
	}
	defer resp.Body.Close()
	// Read (a bounded part of) the answer: it goes into the error, and draining lets the
	// connection be reused.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, min(n.hook.maxBody, 512)))
	io.Copy(io.Discard, io.LimitReader(resp.Body, n.hook.maxBody))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return result{}
	case resp.StatusCode == http.StatusGone:
		return result{err: errors.New("webhook answered 410 Gone"), gone: true}
	default:
		msg := strings.TrimSpace(string(snippet))
		if msg != "" {
			msg = ": " + msg
		}
		return result{err: fmt.Errorf("webhook answered %s%s", resp.Status, msg)}
	}
}

// ErrPrivateAddress is the error of a webhook call to an address that
// WebhookConfig.AllowPrivate would have to allow.
var ErrPrivateAddress = errors.New("destination is a loopback, private or link-local address (serve --webhook-allow-private allows it)")

// refusePrivate is a net.Dialer Control function that refuses internal destinations.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	if internalAddr(a.Unmap()) {
		return fmt.Errorf("dial %s: %w", address, ErrPrivateAddress)
	}
	return nil
}

// guardTransport makes t refuse internal destinations. Directly, the check runs on the
// address actually dialled, so a name that resolves (or is rebound) to an internal address
// is caught too. Through the proxy of the environment (HTTPS_PROXY), the proxy itself may
// sit on an internal address, as egress proxies do, and is dialled without the check; the
// target's name is resolved and checked before the proxy is asked, and the proxy, which
// resolves it again, must enforce its own egress rules.
func guardTransport(t *http.Transport) {
	guarded := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: refusePrivate}
	plain := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	proxies := map[string]bool{} // host:port of the proxies the environment names
	for _, target := range []string{"https://patchday.invalid", "http://patchday.invalid"} {
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		if u, err := http.ProxyFromEnvironment(req); err == nil && u != nil {
			port := u.Port()
			if port == "" {
				port = map[string]string{"https": "443", "socks5": "1080"}[u.Scheme]
				if port == "" {
					port = "80"
				}
			}
			proxies[net.JoinHostPort(u.Hostname(), port)] = true
		}
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if proxies[addr] {
			return plain.DialContext(ctx, network, addr)
		}
		return guarded.DialContext(ctx, network, addr)
	}
	t.Proxy = func(req *http.Request) (*url.URL, error) {
		u, err := http.ProxyFromEnvironment(req)
		if err != nil || u == nil {
			return u, err
		}
		if err := checkResolved(req.Context(), req.URL.Hostname()); err != nil {
			return nil, err
		}
		return u, nil
	}
}

// checkResolved refuses a host name (or address) that is or resolves, here, to an internal
// address.
func checkResolved(ctx context.Context, host string) error {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if internalAddr(a.Unmap()) {
			return fmt.Errorf("%s: %w", host, ErrPrivateAddress)
		}
		return nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		// Behind a proxy the names outside are often known to the proxy alone: it
		// resolves them, and its rules decide.
		return nil
	}
	for _, a := range addrs {
		if internalAddr(a.Unmap()) {
			return fmt.Errorf("%s is %s: %w", host, a, ErrPrivateAddress)
		}
	}
	return nil
}

// Address ranges that are internal beyond what netip's predicates cover: carrier-grade NAT
// (RFC 6598), IETF protocol assignments, benchmarking, "this network" and the reserved
// 240/4; and the IPv6 forms that carry an IPv4 address inside (NAT64 well-known and local
// prefixes, 6to4, IPv4-compatible and SIIT-translated addresses, Teredo), which reach that
// IPv4 address through a translator: refused whole, since a webhook receiver has an address
// of its own.
var internalPrefixes = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2002::/16"),
	netip.MustParsePrefix("::/96"),
	netip.MustParsePrefix("::ffff:0:0:0/96"),
	netip.MustParsePrefix("2001::/32"),
}

func internalAddr(a netip.Addr) bool {
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsUnspecified() || a.IsMulticast() {
		return true
	}
	for _, p := range internalPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
