// Package auth holds patchday's credentials: password hashes and API tokens.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1 lane). Stored with
// each hash, so they can be raised later without invalidating existing passwords.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// MinPasswordLen is the shortest password accepted.
const MinPasswordLen = 12

// MaxPasswordLen bounds the work an attacker can make the server do per login attempt.
const MaxPasswordLen = 1024

var b64 = base64.RawStdEncoding

// hashSlots bounds the argon2 computations running at once: each takes 19 MiB, so a flood of
// logins queues here instead of exhausting memory.
var hashSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

func argonKey(pw, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	return argon2.IDKey(pw, salt, time, memory, threads, keyLen)
}

// ErrMismatch means a password does not match its hash.
var ErrMismatch = errors.New("password does not match")

// CheckPasswordPolicy reports why a new password is not acceptable, or nil.
func CheckPasswordPolicy(pw string) error {
	switch {
	case len(pw) < MinPasswordLen:
		return fmt.Errorf("must be at least %d characters", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("must be at most %d characters", MaxPasswordLen)
	}
	return nil
}

// HashPassword returns an argon2id hash in the PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$SALT$HASH.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argonKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime,
		argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword checks pw against a hash made by HashPassword.
func VerifyPassword(hash, pw string) error {
	if len(pw) > MaxPasswordLen {
		return ErrMismatch
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return errors.New("verify password: unknown hash format")
	}
	var version int
	var memory, time uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return fmt.Errorf("verify password: unsupported argon2 version %q", parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &time, &threads); err != nil {
		return fmt.Errorf("verify password: bad parameters %q", parts[3])
	}
	if memory > 1<<20 || time > 16 || threads == 0 {
		return fmt.Errorf("verify password: parameters out of range %q", parts[3])
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return fmt.Errorf("verify password: bad salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return fmt.Errorf("verify password: bad hash")
	}
	got := argonKey([]byte(pw), salt, time, memory, threads, uint32(len(want)))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrMismatch
	}
	return nil
}

// RandomPassword returns a random password for generated accounts (24 characters, 144 bits).
func RandomPassword() string {
	b := make([]byte, 18)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}
