package notify

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/patchday/patchday/internal/store"
)

// mailConn is one worker's SMTP session, dialled on first use and kept for the following
// messages (a new connection, with STARTTLS and AUTH, per message would cost more than the
// message).
type mailConn struct {
	n        *Notifier
	c        *mail.Client
	lastUsed time.Time
}

// idleReconnect: servers drop idle sessions (Postfix after 300 s); redial instead of
// finding out by a failed message.
const idleReconnect = 30 * time.Second

func (mc *mailConn) dial(ctx context.Context) error {
	cfg := mc.n.cfg.SMTP
	if cfg.Host == "" {
		return errors.New("no SMTP server configured")
	}
	policy := map[string]mail.TLSPolicy{StartTLSOpportunistic: mail.TLSOpportunistic, StartTLSMandatory: mail.TLSMandatory,
		StartTLSNone: mail.NoTLS}[cfg.StartTLS]
	// No NOOP before and no RSET after each message: two round trips of five. A session
	// is ready for the next MAIL after a completed DATA, and after any error the
	// connection is dropped anyway (see send).
	opts := []mail.Option{mail.WithPort(cfg.Port), mail.WithTimeout(cfg.Timeout), mail.WithTLSPolicy(policy),
		mail.WithoutNoop(), mail.WithoutRset()}
	tc := cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{}
	}
	tc = tc.Clone()
	if tc.ServerName == "" {
		tc.ServerName = cfg.Host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	opts = append(opts, mail.WithTLSConfig(tc))
	helo := cfg.HELO
	if helo == "" {
		helo = mc.n.mailDomain
	}
	opts = append(opts, mail.WithHELO(helo))
	if cfg.Username != "" {
		// go-mail refuses PLAIN and LOGIN over an unencrypted connection (except to
		// localhost), so a password is never sent in clear even with opportunistic STARTTLS.
		auth := mail.SMTPAuthPlain
		if cfg.Auth == "login" {
			auth = mail.SMTPAuthLogin
		}
		opts = append(opts, mail.WithSMTPAuth(auth), mail.WithUsername(cfg.Username), mail.WithPassword(cfg.Password))
	}
	c, err := mail.NewClient(cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := c.DialWithContext(ctx); err != nil {
		return fmt.Errorf("smtp %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	mc.c = c
	return nil
}

func (mc *mailConn) close() {
	if mc.c != nil {
		mc.c.Close()
		mc.c = nil
	}
}

// send builds and sends the mail of one delivery.
func (mc *mailConn) send(ctx context.Context, d *store.ClaimedDelivery) result {
	m, err := mc.n.buildMail(d)
	if err != nil {
		return result{err: err, permanent: true}
	}
	if mc.c != nil && time.Since(mc.lastUsed) > idleReconnect {
		mc.close()
	}
	fresh := false
	if mc.c == nil {
		if err := mc.dial(ctx); err != nil {
			return result{err: err}
		}
		fresh = true
	}
	err = mc.c.Send(m)
	var se *mail.SendError
	if err != nil && !fresh && !m.IsDelivered() && errors.As(err, &se) && (se.Reason == mail.ErrConnCheck || se.Reason == mail.ErrSMTPMailFrom) {
		// The kept connection died (the server timed it out) before anything of this
		// message was accepted: redial once now rather than count a failed attempt.
		mc.close()
		if err = mc.dial(ctx); err == nil {
			err = mc.c.Send(m)
		}
	}
	mc.lastUsed = time.Now()
	if err != nil && m.IsDelivered() {
		// The server accepted the message (250 after DATA) and something after it failed:
		// it is delivered, and sending it again would be the duplicate we avoid.
		mc.close()
		return result{}
	}
	if err != nil {
		mc.close() // the session's state is unknown; start over with the next message
		return result{err: fmt.Errorf("smtp: %w", err)}
	}
	return result{}
}

// buildMail renders a delivery: an event, a digest or a confirmation request.
func (n *Notifier) buildMail(d *store.ClaimedDelivery) (*mail.Msg, error) {
	s := &d.Subscription
	data := mailData{Unsubscribe: n.unsubURL(s.TokenNonce), Address: s.Address, Members: s.CreatedBy != SignupActor}
	switch d.Kind {
	case store.DeliveryKindConfirm:
		var p confirmPayload
		json.Unmarshal(d.Payload, &p) // older requests carry no organisation: {}
		data.Org = p.Org
		data.Confirm = n.confirmURL(s.TokenNonce)
		data.Title = "Confirm your subscription"
		if p.Org != "" {
			data.Title += " to " + p.Org
		}
		data.ConfirmDays = int(n.cfg.ConfirmTTL / (24 * time.Hour))
	case store.DeliveryKindDigest:
		var dg Digest
		if err := json.Unmarshal(d.Payload, &dg); err != nil {
			return nil, fmt.Errorf("digest payload: %w", err)
		}
		data.Events, data.Day = dg.Events, dg.Day
		data.Title = fmt.Sprintf("Daily digest for %s: %d event(s)", dg.Day, len(dg.Events))
	default:
		var m Message
		if err := json.Unmarshal(d.Payload, &m); err != nil {
			return nil, fmt.Errorf("event payload: %w", err)
		}
		data.Events = []Message{m}
		data.Title = eventTitle(m.Type) + ": " + m.Subject
	}
	if len(data.Events) > 0 {
		data.Org = data.Events[0].Org
	}
	text, html, err := render(data)
	if err != nil {
		return nil, err
	}
	m := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := m.From(n.cfg.SMTP.From); err != nil {
		return nil, fmt.Errorf("from %q: %w", n.cfg.SMTP.From, err)
	}
	if err := m.To(s.Address); err != nil {
		return nil, fmt.Errorf("to %q: %w", s.Address, err)
	}
	m.Subject("[patchday] " + data.Title)
	// The same Message-ID on every attempt of a delivery: a repeat after a crash (see
	// deliver.go) is recognisable as the same message.
	m.SetMessageIDWithValue(fmt.Sprintf("patchday.%d.%d@%s", d.ID, d.CreatedAt.Unix(), n.mailDomain))
	m.SetDateWithValue(n.cfg.Now())
	m.SetUserAgent("patchday")
	m.SetBulk() // Precedence: bulk, and no auto-replies
	if d.Kind != store.DeliveryKindConfirm {
		n.setUnsubscribe(m, s)
	}
	m.SetBodyString(mail.TypeTextPlain, text)
	m.AddAlternativeString(mail.TypeTextHTML, html)
	return m, nil
}

// setUnsubscribe adds List-Unsubscribe and, with an https link, List-Unsubscribe-Post for
// one-click unsubscribe (RFC 8058): a mail client POSTs "List-Unsubscribe=One-Click" to the
// link and the subscription ends without further questions.
func (n *Notifier) setUnsubscribe(m *mail.Msg, s *store.Subscription) {
	link := n.unsubURL(s.TokenNonce)
	var extra []string
	if to := n.cfg.SMTP.UnsubscribeMailto; to != "" {
		extra = append(extra, "mailto:"+to+"?subject="+url.PathEscape("unsubscribe "+n.unsubToken(s.TokenNonce)))
	}
	if err := m.SetListUnsubscribeOneClick(link, extra...); err != nil {
		m.SetListUnsubscribe(append([]string{link}, extra...)...) // http base URL: no one-click
	}
}

func eventTitle(kind string) string {
	if t, ok := eventTitles[kind]; ok {
		return t
	}
	return kind
}
