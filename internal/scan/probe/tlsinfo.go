package probe

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"time"
)

// TLSInfo describes a TLS session and the server's leaf certificate.
type TLSInfo struct {
	Version     string    `json:"version"`      // "TLS 1.3"
	CipherSuite string    `json:"cipher_suite"` // "TLS_AES_128_GCM_SHA256"
	ALPN        string    `json:"alpn,omitempty"`
	Subject     string    `json:"subject,omitempty"`
	Issuer      string    `json:"issuer,omitempty"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	SelfSigned  bool      `json:"self_signed"`
	DNSNames    []string  `json:"dns_names,omitempty"`
	// SignatureAlgorithm of the leaf, e.g. "SHA256-RSA".
	SignatureAlgorithm string `json:"signature_algorithm,omitempty"`
}

// allCipherSuites offers every suite Go implements, insecure ones
// included, so that old servers can still be observed.
func allCipherSuites() []uint16 {
	var ids []uint16
	for _, cs := range tls.CipherSuites() {
		ids = append(ids, cs.ID)
	}
	for _, cs := range tls.InsecureCipherSuites() {
		ids = append(ids, cs.ID)
	}
	return ids
}

// observeConfig is a client configuration that accepts any certificate:
// the scanner only observes and never sends secrets over the session.
func observeConfig(alpn ...string) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // observation only
		MinVersion:         tls.VersionTLS10,
		CipherSuites:       allCipherSuites(),
		NextProtos:         alpn,
	}
}

// tlsHandshake runs a client handshake over c (deadline already set).
func tlsHandshake(s *session, c net.Conn, alpn ...string) (*tls.Conn, *TLSInfo, error) {
	tc := tls.Client(c, observeConfig(alpn...))
	if err := tc.HandshakeContext(s.ctx); err != nil {
		return nil, nil, err
	}
	return tc, describeTLS(tc.ConnectionState()), nil
}

// describeTLS turns a connection state into TLSInfo.
func describeTLS(st tls.ConnectionState) *TLSInfo {
	ti := &TLSInfo{
		Version:     tls.VersionName(st.Version),
		CipherSuite: tls.CipherSuiteName(st.CipherSuite),
		ALPN:        st.NegotiatedProtocol,
	}
	if len(st.PeerCertificates) > 0 {
		leaf := st.PeerCertificates[0]
		ti.Subject = leaf.Subject.String()
		ti.Issuer = leaf.Issuer.String()
		ti.NotBefore = leaf.NotBefore
		ti.NotAfter = leaf.NotAfter
		ti.DNSNames = leaf.DNSNames
		ti.SignatureAlgorithm = leaf.SignatureAlgorithm.String()
		ti.SelfSigned = isSelfSigned(leaf)
	}
	return ti
}

// isSelfSigned reports whether the certificate's issuer equals its subject
// and its signature verifies with its own public key.
func isSelfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawIssuer, c.RawSubject) {
		return false
	}
	return c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}
