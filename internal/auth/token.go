package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Prefixes of the secrets patchday makes, so secret scanners can recognise a leaked one and
// a secret of one kind is never mistaken for another.
const (
	TokenPrefix  = "pd_"  // API tokens of users
	EnrollPrefix = "pde_" // enrollment tokens of organisations
	AgentPrefix  = "pda_" // credentials of enrolled agents
)

// NewToken returns a new random API token (256 bits), the prefix shown in listings, and the
// hash to store. The token itself is shown once and never stored.
func NewToken() (token, display, hash string) { return NewSecret(TokenPrefix) }

// NewSecret returns a new random secret with the given prefix, as NewToken does.
func NewSecret(prefix string) (secret, display, hash string) {
	b := make([]byte, 32)
	rand.Read(b)
	secret = prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, secret[:len(prefix)+6], HashToken(secret)
}

// LooksLikeSecret reports whether s has the shape of a secret with the given prefix.
func LooksLikeSecret(s, prefix string) bool {
	return strings.HasPrefix(s, prefix) && len(s) == len(prefix)+43
}

// HashToken returns the stored form of a token. A fast hash is right here: tokens carry 256
// random bits, so there is nothing to brute-force.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// LooksLikeToken reports whether s has the shape of an API token.
func LooksLikeToken(s string) bool { return LooksLikeSecret(s, TokenPrefix) }
