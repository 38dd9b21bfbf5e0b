package auth

import (
	"strings"
	"testing"
)

func TestPasswordRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string", h)
	}
	if err := VerifyPassword(h, "correct horse battery staple"); err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	if err := VerifyPassword(h, "correct horse battery stapler"); err != ErrMismatch {
		t.Fatalf("wrong password: got %v, want ErrMismatch", err)
	}
	h2, _ := HashPassword("correct horse battery staple")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt missing")
	}
}

func TestVerifyPasswordRejectsBadHashes(t *testing.T) {
	for _, h := range []string{
		"",
		"plain",
		"$2a$10$abcdefghijklmnopqrstuv",
		"$argon2id$v=18$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=0$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaA",
	} {
		if err := VerifyPassword(h, "whatever"); err == nil {
			t.Errorf("hash %q verified", h)
		}
	}
}

func TestPasswordPolicy(t *testing.T) {
	for _, tc := range []struct {
		pw string
		ok bool
	}{
		{"short", false},
		{strings.Repeat("a", MinPasswordLen), true},
		{strings.Repeat("a", MaxPasswordLen+1), false},
	} {
		if err := CheckPasswordPolicy(tc.pw); (err == nil) != tc.ok {
			t.Errorf("policy(%d chars) = %v, want ok=%v", len(tc.pw), err, tc.ok)
		}
	}
	if err := CheckPasswordPolicy(RandomPassword()); err != nil {
		t.Fatalf("generated password fails the policy: %v", err)
	}
}

func TestTokens(t *testing.T) {
	tok, display, hash := NewToken()
	if !LooksLikeToken(tok) || !strings.HasPrefix(tok, display) || len(display) != 9 {
		t.Fatalf("token %q display %q", tok, display)
	}
	if hash != HashToken(tok) || strings.Contains(hash, tok[3:]) {
		t.Fatalf("hash %q", hash)
	}
	tok2, _, _ := NewToken()
	if tok == tok2 {
		t.Fatal("two tokens are equal")
	}
	if LooksLikeToken("pd_short") || LooksLikeToken("xx_"+tok[3:]) {
		t.Fatal("malformed token accepted")
	}
}
