package protocol

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSignedAssignments(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	otherPub, otherKey, _ := ed25519.GenerateKey(nil)
	list := AssignmentList{ComputerID: 7, Sequence: 5, IssuedAt: time.Unix(1_800_000_000, 0).UTC(),
		Items: []Assignment{{UpdateID: 1, Name: "openssl-fix", Installer: "deb", Payload: &PayloadRef{Digest: "ab", Size: 10, URL: "/payloads/sha256/ab"}}}}
	good, err := Sign(key, KindAssignments, list)
	if err != nil {
		t.Fatal(err)
	}
	byOther, _ := Sign(otherKey, KindAssignments, list)
	rotation, _ := Sign(key, KindKeyRotation, KeyRotation{NewKey: EncodeKey(otherPub)})
	tampered := good
	tampered.Document = []byte(strings.Replace(string(good.Document), "openssl-fix", "openssl-fiX", 1))
	var doc map[string]any
	json.Unmarshal(good.Document, &doc)
	doc["items"].([]any)[0].(map[string]any)["payload"].(map[string]any)["digest"] = "cd"
	swapped := good
	swapped.Document, _ = json.Marshal(doc)
	flipped := good
	flipped.Signature = append([]byte(nil), good.Signature...)
	flipped.Signature[0] ^= 1
	forged := byOther
	forged.KeyID = good.KeyID // claims the trusted key, signed by another
	older, _ := Sign(key, KindAssignments, AssignmentList{ComputerID: 7, Sequence: 4})
	sameSeqOther, _ := Sign(key, KindAssignments, AssignmentList{ComputerID: 7, Sequence: 5, IssuedAt: time.Now()})
	otherComputer, _ := Sign(key, KindAssignments, AssignmentList{ComputerID: 8, Sequence: 9})

	for _, tc := range []struct {
		name       string
		s          Signed
		last       uint64
		lastDigest string
		want       error
	}{
		{"valid", good, 4, "", nil},
		{"resent unchanged", good, 5, good.DocumentDigest(), nil},
		{"payload digest swapped", swapped, 0, "", ErrBadSignature},
		{"name changed", tampered, 0, "", ErrBadSignature},
		{"signature bit flipped", flipped, 0, "", ErrBadSignature},
		{"signed by another key", byOther, 0, "", ErrUnknownKey},
		{"another key posing as the trusted one", forged, 0, "", ErrBadSignature},
		{"a key rotation passed off as a list", Signed{Kind: KindAssignments, Document: rotation.Document, KeyID: rotation.KeyID, Signature: rotation.Signature}, 0, "", ErrBadSignature},
		{"older sequence (replay)", older, 5, good.DocumentDigest(), ErrReplay},
		{"same sequence, other document", sameSeqOther, 5, good.DocumentDigest(), ErrReplay},
		{"for another computer", otherComputer, 0, "", ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := VerifyAssignments(tc.s, pub, 7, tc.last, tc.lastDigest)
			if tc.want == nil {
				if err != nil || l.Sequence != 5 || len(l.Items) != 1 || l.Items[0].Payload.Digest != "ab" {
					t.Fatalf("got %+v, %v", l, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if l.Sequence != 0 || l.Items != nil {
				t.Errorf("a refused list was parsed: %+v", l)
			}
		})
	}
}

func TestInventoryHash(t *testing.T) {
	a := Inventory{Hostname: "h", Arch: "amd64", Languages: []string{"de-CH", "en-US"},
		Packages: []Package{{Name: "zlib1g", Version: "1"}, {Name: "bash", Version: "5"}}}
	b := a
	b.Languages = []string{"en-US", "de-CH", "en-US"}
	b.Packages = []Package{{Name: "bash", Version: "5"}, {Name: "zlib1g", Version: "1"}}
	if a.Hash() != b.Hash() {
		t.Error("order changes the hash")
	}
	if a.Packages[0].Name != "zlib1g" {
		t.Error("Hash reordered its receiver's packages")
	}
	b.Packages[0].Version = "5.1"
	if a.Hash() == b.Hash() {
		t.Error("a version change keeps the hash")
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "signing.key")
	k1, created, err := LoadOrCreateKey(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	k2, created, err := LoadOrCreateKey(path)
	if err != nil || created || !k1.Equal(k2) {
		t.Fatalf("reload: created %v, err %v, same %v", created, err, k1.Equal(k2))
	}
	os.Chmod(path, 0o644)
	if _, err := LoadKey(path); err == nil {
		t.Error("a world-readable key was accepted")
	}
	os.WriteFile(path, []byte("junk"), 0o600)
	if _, err := LoadKey(path); err == nil {
		t.Error("junk accepted as a key")
	}
}
