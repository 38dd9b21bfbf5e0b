//go:build linux

package probe

// Real servers: Debian's sshd, nginx and PostgreSQL binaries started by the
// test on 127.0.0.1 with configurations in a temporary directory. When a
// binary is missing the test is skipped, or fails under CI=true.

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needBinary finds a server binary or skips (fails under CI=true).
func needBinary(t *testing.T, name string, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not installed (Debian: apt-get install %s)", name, map[string]string{
		"sshd": "openssh-server", "nginx": "nginx", "postgres": "postgresql"}[name])
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// freePort returns a port free on 127.0.0.1 now. Another process may take it
// before the daemon listens on it: startDaemon then tries another.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startDaemon runs the command newCmd makes for a free port in the
// foreground, waits until ready says the daemon serves on that port and
// stops the process (by its pid) when the test ends. When the daemon exits
// before that (the port was taken meanwhile, most likely), it tries again
// with another port. logf, when set, is the daemon's log file.
func startDaemon(t *testing.T, newCmd func(port int) *exec.Cmd, logf string, ready func(netip.AddrPort) error) netip.AddrPort {
	t.Helper()
	const attempts = 3
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		cmd := newCmd(port)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
		logs := func() string {
			b, _ := os.ReadFile(logf) // none: logf is empty
			return out.String() + string(b)
		}
		addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
		deadline := time.Now().Add(20 * time.Second)
	wait:
		for {
			err := ready(addr)
			select {
			case <-exited:
				if attempt == attempts {
					t.Fatalf("%s exited (%s):\n%s", cmd.Path, cmd.ProcessState, logs())
				}
				t.Logf("%s exited (%s), trying another port than %d:\n%s", cmd.Path, cmd.ProcessState, port, logs())
				break wait
			default:
			}
			if err == nil { // and still running: no other process answered
				return addr
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is not ready on %v: %v\n%s", cmd.Path, addr, err, logs())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// sshReady: the server at addr sends an SSH identification string.
func sshReady(addr netip.AddrPort) error {
	c, err := net.DialTimeout("tcp", addr.String(), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "SSH-") {
		return fmt.Errorf("greeting %q, %v", line, err)
	}
	return nil
}

// httpReady returns a ready function: the server at addr answers GET / with
// 200 and body.
func httpReady(body string) func(netip.AddrPort) error {
	return func(addr netip.AddrPort) error {
		c, err := net.DialTimeout("tcp", addr.String(), time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", addr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || string(b) != body {
			return fmt.Errorf("GET /: %s %q, %v", resp.Status, b, err)
		}
		return nil
	}
}

func TestRealSSHD(t *testing.T) {
	sshd := needBinary(t, "sshd", "/usr/sbin/sshd")
	keygen := needBinary(t, "ssh-keygen", "/usr/bin/ssh-keygen")
	v, _ := exec.Command(sshd, "-V").CombinedOutput() // prints "OpenSSH_9.2, OpenSSL 3.0.x ..."
	m := regexp.MustCompile(`OpenSSH_([^\s,]+)`).FindSubmatch(v)
	if m == nil {
		t.Fatalf("cannot read the version from sshd -V: %s", v)
	}
	want := string(m[1])
	if os.Geteuid() == 0 {
		// sshd's privilege separation directory, normally made by its
		// service unit.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "ssh_host_ed25519_key")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	cfg := filepath.Join(dir, "sshd_config")
	os.WriteFile(cfg, []byte(fmt.Sprintf("ListenAddress 127.0.0.1\nHostKey %s\nPidFile %s/sshd.pid\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n", key, dir)), 0o600)
	addr := startDaemon(t, func(port int) *exec.Cmd {
		return exec.Command(sshd, "-D", "-e", "-f", cfg, "-p", strconv.Itoa(port))
	}, "", sshReady)
	// sshd -V prints the release without the portable suffix ("OpenSSH_9.2");
	// the identification string carries it ("OpenSSH_9.2p1"). Where dpkg
	// knows the package, its upstream version and Debian revision must
	// match exactly ("1:9.2p1-2+deb12u10" -> 9.2p1, comment Debian-2+deb12u10).
	wantExact, wantComment := "", ""
	if pv, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "openssh-server").Output(); err == nil {
		if m := regexp.MustCompile(`^(?:\d+:)?([^-]+)-(.+)$`).FindSubmatch(pv); m != nil {
			wantExact, wantComment = string(m[1]), "Debian-"+string(m[2])
		}
	}
	for _, usual := range []uint16{22, addr.Port()} {
		info, err := identifyTCP(ctxT(t), addr, usual, testTimeout)
		if err != nil {
			t.Fatalf("as port %d: %v", usual, err)
		}
		t.Logf("sshd -V: %s; dpkg: %s %s; probe: %+v", bytes.TrimSpace(v), wantExact, wantComment, info)
		if info.Service != "ssh" || info.Product != "OpenSSH" || !strings.HasPrefix(info.Version, want) ||
			!strings.HasPrefix(info.Banner, "SSH-2.0-OpenSSH_"+want) {
			t.Errorf("as port %d: %+v, want OpenSSH %s", usual, info, want)
		}
		if wantExact != "" && (info.Version != wantExact || info.Details["comments"] != wantComment) {
			t.Errorf("as port %d: %+v, want %s %s (dpkg)", usual, info, wantExact, wantComment)
		}
	}
}

func TestRealNginx(t *testing.T) {
	nginx := needBinary(t, "nginx", "/usr/sbin/nginx")
	v, _ := exec.Command(nginx, "-v").CombinedOutput() // "nginx version: nginx/1.22.1"
	m := regexp.MustCompile(`nginx/(\S+)`).FindSubmatch(v)
	if m == nil {
		t.Fatalf("cannot read the version from nginx -v: %s", v)
	}
	want := string(m[1])
	dir := t.TempDir()
	conf := `daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen 127.0.0.1:%[2]d;
		location / { return 200 "patchday probe test\n"; }
	}
}
`
	cfg, logf := filepath.Join(dir, "nginx.conf"), filepath.Join(dir, "error.log")
	addr := startDaemon(t, func(port int) *exec.Cmd {
		os.WriteFile(cfg, []byte(fmt.Sprintf(conf, dir, port)), 0o644)
		return exec.Command(nginx, "-p", dir, "-c", cfg, "-e", logf)
	}, logf, httpReady("patchday probe test\n"))
	for _, usual := range []uint16{80, addr.Port()} {
		info, err := identifyTCP(ctxT(t), addr, usual, testTimeout)
		if err != nil {
			t.Fatalf("as port %d: %v", usual, err)
		}
		t.Logf("nginx -v: %s; probe: %+v", strings.TrimSpace(string(v)), info)
		if info.Service != "http" || info.Product != "nginx" || info.Version != want || info.Details["status"] != "200" {
			t.Errorf("as port %d: %+v, want nginx %s", usual, info, want)
		}
	}
}

// postgresBinDir is the newest /usr/lib/postgresql/*/bin with initdb.
func postgresBinDir(t *testing.T) string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	needBinary(t, "postgres") // skips or fails
	return ""
}

func TestRealPostgreSQL(t *testing.T) {
	bin := postgresBinDir(t)
	v, err := exec.Command(filepath.Join(bin, "postgres"), "--version").Output() // "postgres (PostgreSQL) 15.18 (Debian ...)"
	m := regexp.MustCompile(`\(PostgreSQL\) (\S+)`).FindSubmatch(v)
	if err != nil || m == nil {
		t.Fatalf("postgres --version: %v %s", err, v)
	}
	want := string(m[1])

	// As root, the cluster belongs to the postgres OS user (PostgreSQL
	// refuses to run as root), like scripts/postgres.sh does.
	var cred *syscall.Credential
	dir, err := os.MkdirTemp("", "patchday-probe-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root without a postgres OS user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		os.Chown(dir, uid, gid)
	}
	run := func(name string, args ...string) *exec.Cmd {
		c := exec.Command(filepath.Join(bin, name), args...)
		c.Dir = "/"
		c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		return c
	}
	data := filepath.Join(dir, "data")
	if out, err := run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	// A self-signed server certificate so that the SSLRequest is accepted.
	tlsCert, _ := selfSignedCert(t, "pg.test")
	keyDER, _ := x509.MarshalPKCS8PrivateKey(tlsCert.PrivateKey)
	os.WriteFile(filepath.Join(data, "server.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsCert.Certificate[0]}), 0o644)
	os.WriteFile(filepath.Join(data, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	if cred != nil {
		os.Chown(filepath.Join(data, "server.crt"), int(cred.Uid), int(cred.Gid))
		os.Chown(filepath.Join(data, "server.key"), int(cred.Uid), int(cred.Gid))
	}
	// The port opens before logins are accepted ("the database system is starting up",
	// 57P03): ready when the server says it accepts connections.
	addr := startDaemon(t, func(port int) *exec.Cmd {
		return run("postgres", "-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
			"-c", "unix_socket_directories="+dir, "-c", "fsync=off", "-c", "ssl=on")
	}, "", func(addr netip.AddrPort) error {
		return exec.Command(filepath.Join(bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(int(addr.Port()))).Run()
	})
	port := int(addr.Port())

	// 1. The probe user does not exist: PostgreSQL is identified, TLS
	// observed, the version is not disclosed.
	info, err := identifyTCP(ctxT(t), addr, 5432, testTimeout)
	t.Logf("postgres --version: %s; probe: %+v", strings.TrimSpace(string(v)), info)
	if err != nil || info.Service != "postgresql" || info.Product != "PostgreSQL" || info.Version != "" ||
		info.Details["ssl"] != "yes" || info.Details["error_code"] != "28000" || info.TLS == nil || !info.TLS.SelfSigned ||
		!strings.Contains(info.Details["note"], "does not disclose") {
		t.Errorf("unknown role: %+v %v", info, err)
	}

	// 2. Trust authentication lets the probe user in: the version appears
	// in ParameterStatus server_version and auth is reported as trust.
	if out, err := exec.Command(filepath.Join(bin, "psql"), "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres",
		"-d", "postgres", "-c", `CREATE ROLE "patchday-scan" LOGIN`).CombinedOutput(); err != nil {
		t.Fatalf("psql: %v %s", err, out)
	}
	info, err = identifyTCP(ctxT(t), addr, 5432, testTimeout)
	t.Logf("probe with trust: %+v", info)
	if err != nil || info.Version != want || info.Details["auth"] != "trust" {
		t.Errorf("trust: %+v %v, want version %s", info, err, want)
	}
}
