package protocol

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// Signed is a JSON document and an ed25519 signature over its exact bytes. The agent
// verifies the signature before it parses the document, so it never acts on bytes that the
// server did not sign.
type Signed struct {
	// Kind says what the document is; it is part of what is signed, so a signature over
	// one kind of document cannot be passed off as another.
	Kind      string          `json:"kind"`
	Document  json.RawMessage `json:"document"`
	KeyID     string          `json:"key_id"`
	Signature []byte          `json:"signature"`
}

// Kinds of signed documents.
const (
	KindAssignments = "assignments"
	KindKeyRotation = "key-rotation"
)

// Errors of verification.
var (
	ErrBadSignature = errors.New("signature does not verify")
	ErrUnknownKey   = errors.New("signed with a key the agent does not trust")
	ErrReplay       = errors.New("assignment list is older than the last one accepted")
)

// KeyID names a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// EncodeKey and DecodeKey carry public keys as base64.
func EncodeKey(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

// DecodeKey parses a base64 ed25519 public key.
func DecodeKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("not a base64 ed25519 public key")
	}
	return ed25519.PublicKey(b), nil
}

// signedBytes is what the signature covers: a domain prefix, the kind and the document.
func signedBytes(kind string, doc []byte) []byte {
	b := make([]byte, 0, len("patchday/v1\x00")+len(kind)+1+len(doc))
	b = append(b, "patchday/v1\x00"...)
	b = append(b, kind...)
	b = append(b, 0)
	return append(b, doc...)
}

// Sign marshals v and signs it as a document of the given kind.
func Sign(key ed25519.PrivateKey, kind string, v any) (Signed, error) {
	doc, err := json.Marshal(v)
	if err != nil {
		return Signed{}, fmt.Errorf("marshal %s: %w", kind, err)
	}
	pub := key.Public().(ed25519.PublicKey)
	return Signed{Kind: kind, Document: doc, KeyID: KeyID(pub), Signature: ed25519.Sign(key, signedBytes(kind, doc))}, nil
}

// Verify checks s against the trusted key and, only when it verifies, unmarshals the
// document into v.
func (s Signed) Verify(trusted ed25519.PublicKey, kind string, v any) error {
	if s.Kind != kind {
		return fmt.Errorf("%w: a %q document where %q was expected", ErrBadSignature, s.Kind, kind)
	}
	if s.KeyID != KeyID(trusted) {
		return fmt.Errorf("%w: key %s, trusted %s", ErrUnknownKey, s.KeyID, KeyID(trusted))
	}
	if !ed25519.Verify(trusted, signedBytes(kind, s.Document), s.Signature) {
		return ErrBadSignature
	}
	if err := json.Unmarshal(s.Document, v); err != nil {
		return fmt.Errorf("signed %s document: %w", kind, err)
	}
	return nil
}

// VerifyAssignments checks a signed assignment list for computer id: signature by the
// trusted key, the computer it is for, and a sequence newer than last. The server resends an
// unchanged list byte for byte, so an equal sequence is accepted only when the document's
// digest equals lastDigest (DocumentDigest of the list accepted last).
func VerifyAssignments(s Signed, trusted ed25519.PublicKey, computerID int64, last uint64, lastDigest string) (AssignmentList, error) {
	var l AssignmentList
	if err := s.Verify(trusted, KindAssignments, &l); err != nil {
		return AssignmentList{}, err
	}
	if l.ComputerID != computerID {
		return AssignmentList{}, fmt.Errorf("%w: the list is for computer %d, this is computer %d", ErrBadSignature, l.ComputerID, computerID)
	}
	if l.Sequence < last || l.Sequence == last && s.DocumentDigest() != lastDigest {
		return AssignmentList{}, fmt.Errorf("%w: sequence %d, last accepted %d", ErrReplay, l.Sequence, last)
	}
	return l, nil
}

// DocumentDigest is the SHA-256 of the signed document, hex.
func (s Signed) DocumentDigest() string {
	sum := sha256.Sum256(s.Document)
	return hex.EncodeToString(sum[:])
}
