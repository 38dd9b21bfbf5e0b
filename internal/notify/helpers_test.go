package notify

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

const python = "/usr/bin/python3"

// requireAiosmtpd skips the test when the real SMTP server is not installed, or fails it
// under CI=true (the test script installs python3-aiosmtpd).
func requireAiosmtpd(t testing.TB) {
	t.Helper()
	if err := exec.Command(python, "-c", "import aiosmtpd").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("aiosmtpd is required in CI (apt-get install python3-aiosmtpd): %v", err)
		}
		t.Skipf("SMTP tests skipped: %s cannot import aiosmtpd (apt-get install python3-aiosmtpd): %v", python, err)
	}
}

// smtpServer is a real aiosmtpd on a free loopback port, storing what it receives in a
// Maildir.
type smtpServer struct {
	Host    string
	Port    int
	dir     string
	TLSCert *x509.Certificate // set when it offers STARTTLS
}

type smtpOptions struct {
	tls  bool   // offer (and require) STARTTLS
	auth string // USER:PASSWORD required of clients (implies tls)
}

func startSMTP(t testing.TB, o smtpOptions) *smtpServer {
	t.Helper()
	requireAiosmtpd(t)
	tmp := t.TempDir()
	s := &smtpServer{Host: "127.0.0.1", dir: filepath.Join(tmp, "maildir")}
	var tlsArgs []string
	if o.tls || o.auth != "" {
		certFile, keyFile, cert := selfSigned(t, tmp)
		s.TLSCert = cert
		tlsArgs = []string{"--tlscert", certFile, "--tlskey", keyFile}
	}
	// The port is free when chosen, but the server binds it only once Python has started,
	// and another process may take it meanwhile: the server then exits, and starts again on
	// another port.
	for attempt := 1; ; attempt++ {
		err := s.start(t, o, tlsArgs)
		if err == nil {
			return s
		}
		if !errors.Is(err, errPortTaken) || attempt == 5 {
			t.Fatal(err)
		}
		t.Logf("SMTP server, attempt %d: %v", attempt, err)
	}
}

// errPortTaken is the SMTP server's exit because another process listens on its port.
var errPortTaken = errors.New("port taken")

// start runs the server on a free port and waits until the server itself says it listens.
func (s *smtpServer) start(t testing.TB, o smtpOptions, tlsArgs []string) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	var cmd *exec.Cmd
	if o.auth == "" {
		// The server's own command line, as an operator would start it; -d logs "Server is
		// listening on HOST:PORT" once it does.
		args := append([]string{"-m", "aiosmtpd", "-n", "-d", "-l", fmt.Sprintf("127.0.0.1:%d", s.Port), "-c", "aiosmtpd.handlers.Mailbox"}, tlsArgs...)
		cmd = exec.Command(python, append(args, s.dir)...)
	} else {
		// Prints "ready" once it listens.
		args := append([]string{"testdata/smtpd.py", "127.0.0.1", fmt.Sprint(s.Port), s.dir, "--auth", o.auth}, tlsArgs...)
		cmd = exec.Command(python, args...)
	}
	// Its output goes to a pipe that a goroutine reads to the end, watching for the line.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		t.Fatalf("start aiosmtpd: %v", err)
	}
	var mu sync.Mutex
	var output strings.Builder
	ready, drained, exited := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(drained)
		defer pr.Close()
		r := bufio.NewReader(pr)
		signalled := false
		for {
			line, err := r.ReadString('\n')
			mu.Lock()
			output.WriteString(line)
			mu.Unlock()
			if l := strings.TrimSpace(line); !signalled && (l == "ready" || strings.Contains(l, "Server is listening on")) {
				signalled = true
				close(ready)
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		cmd.Wait()
		close(exited)
	}()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	out := func() string {
		mu.Lock()
		defer mu.Unlock()
		return output.String()
	}
	select {
	case <-ready:
	case <-exited:
		select { // the rest of its output
		case <-drained:
		case <-time.After(5 * time.Second):
		}
		if strings.Contains(strings.ToLower(out()), "address already in use") {
			return fmt.Errorf("%w: %d\n%s", errPortTaken, s.Port, out())
		}
		return fmt.Errorf("aiosmtpd exited before it listened on port %d (%v):\n%s", s.Port, cmd.ProcessState, out())
	case <-time.After(60 * time.Second):
		stop()
		return fmt.Errorf("aiosmtpd did not listen on port %d within a minute:\n%s", s.Port, out())
	}
	t.Cleanup(stop)
	// The port is the server's now; it greets as aiosmtpd does.
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), 10*time.Second)
	if err != nil {
		return fmt.Errorf("aiosmtpd on port %d: %v\n%s", s.Port, err, out())
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "220 ") || !strings.Contains(line, "Python SMTP") {
		return fmt.Errorf("aiosmtpd on port %d greets with %q (%v), want 220 ... Python SMTP ...:\n%s", s.Port, line, err, out())
	}
	return nil
}

// selfSigned writes a certificate for 127.0.0.1 and localhost and its key.
func selfSigned(t testing.TB, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "patchday test smtp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile, cert
}

// tlsConfig trusts the server's certificate.
func (s *smtpServer) tlsConfig() *tls.Config {
	pool := x509.NewCertPool()
	if s.TLSCert != nil {
		pool.AddCert(s.TLSCert)
	}
	return &tls.Config{RootCAs: pool}
}

// received is a message the server stored.
type received struct {
	Header mail.Header
	Text   string
	HTML   string
}

// messages returns every message received so far, in no particular order.
func (s *smtpServer) messages(t testing.TB) []received {
	t.Helper()
	var out []received
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(s.dir, sub))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			f, err := os.Open(filepath.Join(s.dir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, parseMessage(t, f))
			f.Close()
		}
	}
	return out
}

// count is the number of messages received so far.
func (s *smtpServer) count(t testing.TB) int {
	n := 0
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(s.dir, sub))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		n += len(entries)
	}
	return n
}

// waitFor waits until the server has received at least n messages.
func (s *smtpServer) waitFor(t testing.TB, n int) []received {
	t.Helper()
	s.waitCount(t, n)
	return s.messages(t)
}

// waitCount waits until the server has stored at least n messages.
func (s *smtpServer) waitCount(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for s.count(t) < n {
		if time.Now().After(deadline) {
			t.Fatalf("SMTP server has %d messages, want %d", s.count(t), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func parseMessage(t testing.TB, r io.Reader) received {
	t.Helper()
	m, err := mail.ReadMessage(r)
	if err != nil {
		t.Fatalf("stored message: %v", err)
	}
	out := received{Header: m.Header}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("MIME part: %v", err)
		}
		b, _ := io.ReadAll(p)
		switch pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); pt {
		case "text/plain":
			out.Text = string(b)
		case "text/html":
			out.HTML = string(b)
		}
	}
	return out
}

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

// env is a store with one organisation and a Notifier on it.
type env struct {
	st    *store.Store
	n     *Notifier
	org   store.Org
	clock *testClock
}

func newEnv(t testing.TB, engine store.Engine, cfg Config) *env {
	t.Helper()
	return newEnvOn(t, storetest.Open(t, engine), cfg)
}

func newEnvOn(t testing.TB, st *store.Store, cfg Config) *env {
	t.Helper()
	e := &env{st: st, clock: newClock()}
	ctx := context.Background()
	if o, err := st.OrgBySlug(ctx, "acme"); err == nil {
		e.org = o
	} else if err := st.Update(ctx, func(tx *store.Tx) error {
		var err error
		e.org, err = tx.CreateOrg(ctx, "acme", "ACME Corp")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = "https://patchday.test"
	}
	cfg.TokenKey = testKey
	if cfg.SMTP.From == "" {
		cfg.SMTP.From = "patchday <patchday@patchday.test>"
	}
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	// The receivers of these tests listen on loopback; TestWebhookRefusesPrivate turns
	// this off.
	cfg.Webhook.AllowPrivate = true
	n, err := New(st, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.n = n
	return e
}

func (s *smtpServer) config() SMTPConfig {
	return SMTPConfig{Host: s.Host, Port: s.Port, Timeout: 5 * time.Second, TLSConfig: s.tlsConfig()}
}

// event records an event as other parts do.
func (e *env) event(t testing.TB, kind, subject, details string) {
	t.Helper()
	ctx := context.Background()
	if err := e.st.Update(ctx, func(tx *store.Tx) error { return tx.AddEvent(ctx, e.org.ID, kind, subject, details) }); err != nil {
		t.Fatal(err)
	}
}

// fanOut runs fan-out and returns how many deliveries it enqueued.
func (e *env) fanOut(t testing.TB) int {
	t.Helper()
	n, err := e.n.FanOut(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) deliver(t testing.TB) int {
	t.Helper()
	n, err := e.n.Deliver(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) subscribe(t testing.TB, in SubscriptionInput) Created {
	t.Helper()
	c, err := e.n.Subscribe(context.Background(), e.org.ID, in, "test")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// confirmDirectly confirms an e-mail subscription as following its link would.
func (e *env) confirmDirectly(t testing.TB, s store.Subscription) {
	t.Helper()
	if _, err := e.n.Confirm(context.Background(), e.n.confirmToken(s.TokenNonce)); err != nil {
		t.Fatal(err)
	}
}

func (e *env) counts(t testing.TB) map[string]int {
	t.Helper()
	c, err := e.st.CountDeliveries(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
