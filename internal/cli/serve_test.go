package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		var out bytes.Buffer
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		cmd := newServeCmd()
		cmd.SetArgs([]string{"--listen", addr, "--data", data, "--log-level", "warn"})
		cmd.SetOut(io.Discard)
		cmd.SetErr(&out)
		go func() { done <- cmd.ExecuteContext(ctx) }()
		for i := 0; ; i++ {
			if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
				res.Body.Close()
				break
			}
			if i > 100 {
				t.Fatal("the server did not start")
			}
			time.Sleep(50 * time.Millisecond)
		}
		stop()
		if err := <-done; err != nil {
			t.Fatalf("serve: %v", err)
		}
		return out.String()
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
