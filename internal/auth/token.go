package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// TokenPrefix starts every API token, so secret scanners can recognise a leaked one.
const TokenPrefix = "pd_"

// NewToken returns a new random API token (256 bits), the prefix shown in listings, and the
// hash to store. The token itself is shown once and never stored.
func NewToken() (token, display, hash string) {
	b := make([]byte, 32)
	rand.Read(b)
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, token[:len(TokenPrefix)+6], HashToken(token)
}

// HashToken returns the stored form of a token. A fast hash is right here: tokens carry 256
// random bits, so there is nothing to brute-force.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// LooksLikeToken reports whether s has the shape of an API token.
func LooksLikeToken(s string) bool {
	return strings.HasPrefix(s, TokenPrefix) && len(s) == len(TokenPrefix)+43
}
