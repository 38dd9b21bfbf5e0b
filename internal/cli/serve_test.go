package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// Settings come from flags, then PATCHDAY_* variables, then the config file.
func TestServeConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "server.yaml")
	os.WriteFile(file, []byte("listen: 127.0.0.1:7000\nlog-format: json\nlog-level: debug\ntrusted-proxy:\n  - 10.0.0.0/8\n  - 192.168.0.0/16\n"), 0o600)
	t.Setenv("PATCHDAY_LOG_FORMAT", "text")
	t.Setenv("PATCHDAY_DATA", "/from/env")

	cmd := newServeCmd()
	if err := cmd.ParseFlags([]string{"--data", "/from/flag"}); err != nil {
		t.Fatal(err)
	}
	if err := applyConfig(cmd, file); err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{
		"data":          "/from/flag",                  // flag beats environment
		"log-format":    "text",                        // environment beats file
		"listen":        "127.0.0.1:7000",              // file beats default
		"log-level":     "debug",                       // file
		"trusted-proxy": "[10.0.0.0/8,192.168.0.0/16]", // a list in the file
		"session-ttl":   "12h0m0s",                     // default
	} {
		if got := cmd.Flags().Lookup(flag).Value.String(); got != want {
			t.Errorf("%s = %q, want %q", flag, got, want)
		}
	}
}

func TestServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file, env, want string
	}{
		{"unknown key", "listen: x:1\ncolour: red\n", "", "unknown setting colour"},
		{"bad value", "session-ttl: forever\n", "", "session-ttl"},
		{"bad yaml", "listen: [\n", "", "config file"},
		{"bad env", "", "PATCHDAY_SESSION_TTL=soon", "PATCHDAY_SESSION_TTL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := ""
			if tc.file != "" {
				file = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
				os.WriteFile(file, []byte(tc.file), 0o600)
			}
			if k, v, ok := strings.Cut(tc.env, "="); ok {
				t.Setenv(k, v)
			}
			cmd := newServeCmd()
			cmd.ParseFlags(nil)
			err := applyConfig(cmd, file)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// --help documents every setting with its environment variable.
func TestServeHelpDocumentsEverySetting(t *testing.T) {
	cmd := newServeCmd()
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" {
			return
		}
		want := envName(f.Name)
		if f.Name == "config" {
			want = "PATCHDAY_CONFIG"
		}
		if !strings.Contains(f.Usage, "[env "+want+"]") {
			t.Errorf("--%s help %q does not name %s", f.Name, f.Usage, want)
		}
	})
}

func TestCheckListen(t *testing.T) {
	for _, tc := range []struct {
		o  serveOptions
		ok bool
	}{
		{serveOptions{listen: "127.0.0.1:8080"}, true},
		{serveOptions{listen: "[::1]:8080"}, true},
		{serveOptions{listen: "localhost:8080"}, true},
		{serveOptions{listen: "0.0.0.0:8080"}, false},
		{serveOptions{listen: ":8080"}, false},
		{serveOptions{listen: "10.1.2.3:8080"}, false},
		{serveOptions{listen: "0.0.0.0:8443", tlsCert: "c", tlsKey: "k"}, true},
		{serveOptions{listen: "0.0.0.0:8080", insecureHTTP: true}, true},
		{serveOptions{listen: "127.0.0.1:8080", tlsCert: "c"}, false},
		{serveOptions{listen: "nonsense"}, false},
	} {
		if err := checkListen(tc.o); (err == nil) != tc.ok {
			t.Errorf("%+v: %v, want ok=%v", tc.o, err, tc.ok)
		}
	}
}

// Every start says where the server runs; the first also gives the administrator's
// password. A too short PATCHDAY_ADMIN_PASSWORD is refused naming the variable.
func TestServeBanner(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	t.Setenv("PATCHDAY_ADMIN_PASSWORD", "short")
	cmd := newServeCmd()
	cmd.SetArgs([]string{"--listen", "127.0.0.1:0", "--data", data, "--log-level", "warn"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "PATCHDAY_ADMIN_PASSWORD") {
		t.Fatalf("a short PATCHDAY_ADMIN_PASSWORD: %v", err)
	}

	t.Setenv("PATCHDAY_ADMIN_PASSWORD", "banner-test-password")
	start := func() string {
		t.Helper()
		// Port 0: the system picks a free port when serve listens, and the banner says which.
		srv, err := startServe(t, "--listen", "127.0.0.1:0", "--data", data, "--log-level", "warn")
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
		client := &http.Client{Timeout: 30 * time.Second}
		res, err := client.Get(srv.URL + "/healthz")
		if err != nil {
			srv.Stop()
			t.Fatalf("the server at %s does not answer: %v", srv.URL, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s/healthz: %s", srv.URL, res.Status)
		}
		if err := srv.Stop(); err != nil {
			t.Fatalf("serve: %v", err)
		}
		return srv.out.String()
	}
	first := start()
	if !strings.Contains(first, "patchday is running at http://127.0.0.1:") || !strings.Contains(first, "Initial administrator: admin") ||
		!strings.Contains(first, "sign in as admin") {
		t.Errorf("first start:\n%s", first)
	}
	again := start()
	if !strings.Contains(again, "patchday is running at http://127.0.0.1:") || strings.Contains(again, "Initial password") {
		t.Errorf("second start:\n%s", again)
	}
}

// syncBuffer is a buffer that serve writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// serving is a "patchday serve" running in the test.
type serving struct {
	URL    string      // where it listens, from its banner
	out    *syncBuffer // its standard error
	stop   context.CancelFunc
	exited chan struct{} // closed when serve has returned
	err    error         // what serve returned, once exited is closed
}

// startServe runs "patchday serve" with args and waits until its banner says where it runs
// ("patchday is running at URL"), which it prints once its listener is open: the address is
// then serve's own, also when --listen gave port 0. The error is serve's, when it ended before
// that (such as "address already in use").
func startServe(t *testing.T, args ...string) (*serving, error) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	s := &serving{out: &syncBuffer{}, stop: stop, exited: make(chan struct{})}
	cmd := newServeCmd()
	cmd.SetArgs(args)
	cmd.SetOut(io.Discard)
	cmd.SetErr(s.out)
	go func() {
		defer close(s.exited)
		s.err = cmd.ExecuteContext(ctx)
	}()
	// Generous: the first start hashes the administrator's password (argon2id) and makes
	// keys, on a machine busy with other tests.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, rest, ok := strings.Cut(s.out.String(), "patchday is running at "); ok {
			if url, _, ok := strings.Cut(rest, "\n"); ok {
				s.URL = strings.TrimSpace(url)
				return s, nil
			}
		}
		select {
		case <-s.exited:
			stop()
			err := s.err
			if err == nil {
				err = errors.New("serve returned before it listened")
			}
			return nil, fmt.Errorf("%w\n%s", err, s.out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("serve did not say where it runs within 2 minutes:\n%s", s.out)
		}
	}
}

// Stop ends serve as an interrupt would and returns what it returned.
func (s *serving) Stop() error {
	s.stop()
	<-s.exited
	return s.err
}
