package main_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/store/storetest"
)

var binary string

// TestMain builds the real patchday binary once; these tests run it as a user would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "patchday-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "patchday")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build patchday: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const adminPassword = "crash-test-admin-password"

// proc is a running patchday serve.
type proc struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
}

// startServer runs patchday serve and waits until it listens.
func startServer(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	cmd.Env = append(os.Environ(), "PATCHDAY_ADMIN_PASSWORD="+adminPassword)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: &bytes.Buffer{}}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Bytes()
			p.stderr.Write(append(line, '\n'))
			var rec struct{ Msg, URL string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" {
				urlc <- rec.URL
			}
		}
		close(urlc)
	}()
	select {
	case u, ok := <-urlc:
		if !ok {
			t.Fatalf("server exited before listening:\n%s", p.stderr)
		}
		p.url = u
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not listen within 30s:\n%s", p.stderr)
	}
	return p
}

func call(method, url, token string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := http.Client{Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

func login(t *testing.T, url string) string {
	t.Helper()
	code, b, err := call("POST", url+"/api/v1/auth/login", "", map[string]string{"username": "admin", "password": adminPassword})
	if err != nil || code != 201 {
		t.Fatalf("login: %d %s %v", code, b, err)
	}
	var tok struct{ Token string }
	json.Unmarshal(b, &tok)
	return tok.Token
}

// A server killed with SIGKILL in the middle of a write load restarts on the same data, and
// every write it acknowledged is there, with its audit event.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	for _, engine := range storetest.Engines() {
		t.Run(string(engine), func(t *testing.T) {
			args := []string{"--data", t.TempDir()}
			if engine == store.Postgres {
				args = append(args, "--database", storetest.NewPostgresDB(t))
			}
			p := startServer(t, args...)
			token := login(t, p.url)

			var mu sync.Mutex
			var acked []string
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						slug := fmt.Sprintf("w%d-%d", w, i)
						code, _, err := call("POST", p.url+"/api/v1/orgs", token, map[string]string{"slug": slug})
						if err != nil {
							return // the server died mid-request: not acknowledged
						}
						if code == 201 {
							mu.Lock()
							acked = append(acked, slug)
							mu.Unlock()
						}
					}
				}()
			}
			// Kill once a good number of writes are through, while the writers are still going.
			deadline := time.Now().Add(20 * time.Second)
			for {
				mu.Lock()
				n := len(acked)
				mu.Unlock()
				if n >= 200 || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			p.cmd.Wait()
			close(stop)
			wg.Wait()
			if len(acked) < 50 {
				t.Fatalf("only %d writes acknowledged before the kill", len(acked))
			}

			p2 := startServer(t, args...)
			token = login(t, p2.url)
			have := map[string]bool{}
			cursor := ""
			for {
				code, b, err := call("GET", p2.url+"/api/v1/orgs?limit=500&cursor="+cursor, token, nil)
				if err != nil || code != 200 {
					t.Fatalf("list after restart: %d %s %v", code, b, err)
				}
				var page struct {
					Items      []struct{ Slug string }
					NextCursor string `json:"next_cursor"`
				}
				json.Unmarshal(b, &page)
				for _, o := range page.Items {
					have[o.Slug] = true
				}
				if page.NextCursor == "" {
					break
				}
				cursor = page.NextCursor
			}
			var lost []string
			for _, s := range acked {
				if !have[s] {
					lost = append(lost, s)
				}
			}
			if len(lost) > 0 {
				t.Fatalf("%d of %d acknowledged writes lost after SIGKILL: %s", len(lost), len(acked), strings.Join(lost[:min(10, len(lost))], " "))
			}
			// Each acknowledged write has its audit event too (same transaction).
			audited := map[string]bool{}
			cursor = ""
			for {
				code, b, err := call("GET", p2.url+"/api/v1/audit?action=org.create&limit=500&cursor="+cursor, token, nil)
				if err != nil || code != 200 {
					t.Fatalf("audit after restart: %d %s %v", code, b, err)
				}
				var page struct {
					Items []struct {
						ObjectID string `json:"object_id"`
					}
					NextCursor string `json:"next_cursor"`
				}
				json.Unmarshal(b, &page)
				for _, e := range page.Items {
					audited[e.ObjectID] = true
				}
				if page.NextCursor == "" {
					break
				}
				cursor = page.NextCursor
			}
			for _, s := range acked {
				if !audited[s] {
					t.Fatalf("acknowledged organisation %s has no audit event", s)
				}
			}
			t.Logf("%s: %d writes acknowledged before SIGKILL, all present after restart", engine, len(acked))
		})
	}
}

// The admin password comes from PATCHDAY_ADMIN_PASSWORD; without it a random password is
// printed once, and it works.
func TestFirstStartPrintsInitialPassword(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(binary, "serve", "--listen", "127.0.0.1:0", "--data", dir, "--log-format", "json")
	cmd.Env = os.Environ()
	pipe, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(pipe)
	var pw, url string
	for sc.Scan() && (pw == "" || url == "") {
		line := sc.Text()
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Initial password:"); ok {
			pw = strings.Fields(v)[0]
		}
		var rec struct{ Msg, URL string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
			url = rec.URL
		}
	}
	if pw == "" || url == "" {
		t.Fatalf("password %q, url %q", pw, url)
	}
	code, b, err := call("POST", url+"/api/v1/auth/login", "", map[string]string{"username": "admin", "password": pw})
	if err != nil || code != 201 {
		t.Fatalf("login with the printed password: %d %s %v", code, b, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, store.SQLiteFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("database file mode: %v %v", fi.Mode(), err)
	}
}

// patchday demo serves the demo catalog from the first start on.
func TestDemo(t *testing.T) {
	cmd := exec.Command(binary, "demo", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--log-format", "json")
	cmd.Env = append(os.Environ(), "PATCHDAY_ADMIN_PASSWORD="+adminPassword)
	pipe, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(pipe)
	url, loaded := "", false
	for sc.Scan() && url == "" {
		var rec struct{ Msg, URL string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil {
			loaded = loaded || rec.Msg == "loaded the demo catalog"
			if rec.Msg == "listening" {
				url = rec.URL
			}
		}
	}
	if !loaded || url == "" {
		t.Fatalf("demo did not load (loaded=%v, url=%q)", loaded, url)
	}
	token := login(t, url)
	code, b, err := call("GET", url+"/api/v1/orgs/default/advisories?min_severity=critical", token, nil)
	var page struct{ Items []struct{ Title string } }
	json.Unmarshal(b, &page)
	if err != nil || code != 200 || len(page.Items) != 1 || !strings.Contains(page.Items[0].Title, "resolution service") {
		t.Fatalf("critical advisories: %d %s %v", code, b, err)
	}
	code, b, _ = call("GET", url+"/api/v1/orgs/default/updates", token, nil)
	var updates struct{ Items []json.RawMessage }
	json.Unmarshal(b, &updates)
	if code != 200 || len(updates.Items) != 5 {
		t.Fatalf("updates: %d %s", code, b)
	}
}

// SIGTERM shuts the server down gracefully: exit status 0 and a "stopped" log line.
func TestGracefulShutdown(t *testing.T) {
	p := startServer(t, "--data", t.TempDir())
	if code, _, err := call("GET", p.url+"/readyz", "", nil); err != nil || code != 200 {
		t.Fatalf("readyz: %d %v", code, err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of SIGTERM")
	}
	time.Sleep(50 * time.Millisecond)
	if !strings.Contains(p.stderr.String(), `"msg":"stopped"`) {
		t.Fatalf("no stopped log line:\n%s", p.stderr)
	}
}

// Plain HTTP on a non-loopback address is refused, with exit code 2.
func TestRefusesPlainHTTPOffLoopback(t *testing.T) {
	out, err := exec.Command(binary, "serve", "--listen", "0.0.0.0:0", "--data", t.TempDir()).CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "--tls-cert") {
		t.Fatalf("err %v, output %s", err, out)
	}
}

// With a certificate and key the server speaks HTTPS, TLS 1.2 at least.
func TestServesTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	p := startServer(t, "--data", dir, "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(p.url, "https://") {
		t.Fatalf("url %s", p.url)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	res, err := c.Get(p.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.TLS == nil || res.TLS.Version < tls.VersionTLS12 || res.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("status %d, tls %v, headers %v", res.StatusCode, res.TLS, res.Header)
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}, Timeout: 10 * time.Second}
	if _, err := old.Get(p.url + "/healthz"); err == nil {
		t.Fatal("TLS 1.1 accepted")
	}
}

func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
