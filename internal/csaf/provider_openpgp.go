package csaf

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// OpenPGPKey is the provider's OpenPGP key: it signs the published documents (.asc files).
// Signatures are kept by document digest, so each document is signed once per process.
type OpenPGPKey struct {
	entity *openpgp.Entity
	public []byte // armored public key

	mu   sync.Mutex
	sigs map[string][]byte // SHA-256 hex -> armored detached signature
}

// maxCachedSignatures bounds the signature cache (an armored ed25519 signature is ~250 bytes).
const maxCachedSignatures = 100000

var pgpConfig = &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519, DefaultHash: crypto.SHA256}

// NewOpenPGPKey makes a new signing key (ed25519, OpenPGP v4) for a user id such as
// "ACME Security <security@acme.example>".
func NewOpenPGPKey(name, email string) (*OpenPGPKey, error) {
	e, err := openpgp.NewEntity(name, "CSAF provider", email, pgpConfig)
	if err != nil {
		return nil, fmt.Errorf("openpgp key: %w", err)
	}
	return keyOf(e)
}

func keyOf(e *openpgp.Entity) (*OpenPGPKey, error) {
	if e.PrivateKey == nil || e.PrivateKey.Encrypted {
		return nil, errors.New("openpgp key: the key has no usable (unencrypted) private key")
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := e.Serialize(w); err != nil {
		return nil, fmt.Errorf("openpgp key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	pub.WriteByte('\n')
	return &OpenPGPKey{entity: e, public: pub.Bytes(), sigs: map[string][]byte{}}, nil
}

// Fingerprint is the key's fingerprint in upper-case hex.
func (k *OpenPGPKey) Fingerprint() string {
	return strings.ToUpper(hex.EncodeToString(k.entity.PrimaryKey.Fingerprint))
}

// PublicKey is the armored public key.
func (k *OpenPGPKey) PublicKey() []byte { return k.public }

// Sign returns the armored detached signature of data, whose SHA-256 (hex) is sum.
func (k *OpenPGPKey) Sign(data []byte, sum string) ([]byte, error) {
	k.mu.Lock()
	sig, ok := k.sigs[sum]
	k.mu.Unlock()
	if ok {
		return sig, nil
	}
	var b bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&b, k.entity, bytes.NewReader(data), pgpConfig); err != nil {
		return nil, fmt.Errorf("openpgp sign: %w", err)
	}
	b.WriteByte('\n')
	sig = b.Bytes()
	k.mu.Lock()
	if len(k.sigs) >= maxCachedSignatures {
		clear(k.sigs)
	}
	k.sigs[sum] = sig
	k.mu.Unlock()
	return sig, nil
}

// marshalPrivate is the armored private key.
func (k *OpenPGPKey) marshalPrivate() ([]byte, error) {
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PrivateKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := k.entity.SerializePrivate(w, pgpConfig); err != nil {
		return nil, fmt.Errorf("openpgp key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// LoadOpenPGPKey reads an armored OpenPGP private key (unencrypted) from a file that group
// and others cannot read.
func LoadOpenPGPKey(path string) (*OpenPGPKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("openpgp key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 && os.PathSeparator == '/' {
		return nil, fmt.Errorf("openpgp key %s: mode %04o lets others read it; chmod 600 it", path, fi.Mode().Perm())
	}
	if fi.Size() > 1<<20 {
		return nil, fmt.Errorf("openpgp key %s: larger than 1 MiB, not a key", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("openpgp key: %w", err)
	}
	es, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("openpgp key %s: %w", path, err)
	}
	if len(es) != 1 {
		return nil, fmt.Errorf("openpgp key %s: holds %d keys, want one", path, len(es))
	}
	k, err := keyOf(es[0])
	if err != nil {
		return nil, fmt.Errorf("openpgp key %s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreateOpenPGPKey reads the key at path, or creates it there (mode 0600) with the user
// id name <email> when the file does not exist. created says which happened.
func LoadOrCreateOpenPGPKey(path, name, email string) (k *OpenPGPKey, created bool, err error) {
	k, err = LoadOpenPGPKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	if k, err = NewOpenPGPKey(name, email); err != nil {
		return nil, false, err
	}
	b, err := k.marshalPrivate()
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("openpgp key: %w", err)
	}
	// O_EXCL: of two nodes starting at once on a shared directory, the loser reads the
	// winner's key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		k, err = LoadOpenPGPKey(path)
		return k, false, err
	} else if err != nil {
		return nil, false, fmt.Errorf("openpgp key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("openpgp key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("openpgp key %s: %w", path, err)
	}
	return k, true, f.Close()
}
