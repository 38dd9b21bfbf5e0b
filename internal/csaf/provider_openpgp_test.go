package csaf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The provider's key is made once with mode 0600, read back the same, and refused when
// others can read it.
func TestOpenPGPKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "openpgp.asc")
	k, created, err := LoadOrCreateOpenPGPKey(path, "patchday CSAF provider", "")
	if err != nil || !created {
		t.Fatalf("create: %v, created %v", err, created)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode().Perm(), err)
	}
	again, created, err := LoadOrCreateOpenPGPKey(path, "patchday CSAF provider", "")
	if err != nil || created || again.Fingerprint() != k.Fingerprint() {
		t.Fatalf("load: %v, created %v, fingerprint %s != %s", err, created, again.Fingerprint(), k.Fingerprint())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateOpenPGPKey(path, "x", ""); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a key others can read: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.asc")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, err := LoadOpenPGPKey(bad); err == nil {
		t.Error("a file that holds no key was accepted")
	}
}
