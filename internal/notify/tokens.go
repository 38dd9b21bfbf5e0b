package notify

import (
	"github.com/patchday/patchday/internal/store"

	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"

	"github.com/patchday/patchday/internal/auth"
)

// Token prefixes, so that a leaked link is recognisable and one kind is never taken for
// another.
const (
	confirmPrefix = "pdc_"
	unsubPrefix   = "pdu_"
	webhookPrefix = "pdw_" // webhook signing secrets
)

// Confirm and unsubscribe tokens carry 256 bits and are stored only as their SHA-256, as API
// tokens are (auth.HashToken). Unlike an API token, which is shown once, these must appear
// again in every mail (the unsubscribe link) and in a confirmation request that may be
// retried, so they are not kept anywhere: each is HMAC-SHA256(TokenKey, purpose, nonce),
// with a random nonce per subscription in the database and the key only in the servers'
// configuration. The database alone (a stolen backup) yields neither token.

func newNonce() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (n *Notifier) token(prefix, nonce string) string {
	m := hmac.New(sha256.New, n.cfg.TokenKey)
	m.Write([]byte(prefix))
	m.Write([]byte(nonce))
	return prefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (n *Notifier) confirmToken(nonce string) string { return n.token(confirmPrefix, nonce) }
func (n *Notifier) unsubToken(nonce string) string   { return n.token(unsubPrefix, nonce) }

func (n *Notifier) confirmURL(nonce string) string {
	return n.cfg.BaseURL + ConfirmPath + "?token=" + n.confirmToken(nonce)
}

func (n *Notifier) unsubURL(nonce string) string {
	return n.cfg.BaseURL + UnsubscribePath + "?token=" + n.unsubToken(nonce)
}

func hashToken(t string) string { return auth.HashToken(t) }

// newWebhookSecret returns a random 256-bit signing secret.
func newWebhookSecret() string {
	s, _, _ := auth.NewSecret(webhookPrefix)
	return s
}

// KeyFromSeed derives a TokenKey from another secret every node already shares, such as the
// server's ed25519 signing key seed, so that no new secret has to be distributed. Rotating
// the seed invalidates the links in mails already sent.
func KeyFromSeed(seed []byte) []byte {
	k, err := hkdf.Key(sha256.New, seed, nil, "patchday notify tokens v1", 32)
	if err != nil {
		panic(err) // only for lengths hkdf cannot produce; 32 is fine
	}
	return k
}

// Links returns a subscription's confirmation and unsubscribe links, as its mails carry them:
// for tests of the endpoints that follow them, and for support staff helping a subscriber.
func (n *Notifier) Links(s store.Subscription) (confirm, unsubscribe string) {
	return n.confirmURL(s.TokenNonce), n.unsubURL(s.TokenNonce)
}
