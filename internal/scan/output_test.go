package scan

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func fixedResult() Result {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return Result{
		Started:   start,
		Finished:  start.Add(2*time.Second + 345*time.Millisecond),
		Targets:   []string{"10.1.0.0/30", "fd00::5"},
		Addresses: 5,
		Ports:     101,
		Findings: []Finding{
			{Host: netip.MustParseAddr("10.1.0.1"), Port: 22, Protocol: TCP, State: StateOpen,
				Service: "ssh", Product: "OpenSSH", Version: "9.2p1", Banner: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
				Advisories: []string{"CVE-2024-6387"},
				Violation:  &Violation{Zone: "dmz", Allowed: []string{"tcp/443"}, Message: "tcp/22 open in zone dmz, which allows only tcp/443"}},
			{Host: netip.MustParseAddr("10.1.0.1"), Port: 443, Protocol: TCP, State: StateOpen,
				Service: "https", Product: "nginx", Version: "1.22.1",
				TLS: &TLSInfo{Version: "TLS 1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", Subject: "CN=www.lab", Issuer: "CN=www.lab",
					NotAfter: time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC), SelfSigned: true},
				Details: map[string]string{"server": "nginx/1.22.1", "alpn": "h2"}},
			{Host: netip.MustParseAddr("10.1.0.2"), Port: 1434, Protocol: UDP, State: StateOpen,
				Service: "ms-sql-m", Product: "Microsoft SQL Server", Version: "8.00.194",
				Banner:  "=cmd|' /C calc'!A0 \x1b[31mred",
				Details: map[string]string{"instances": "MSSQLSERVER:1433"}},
			{Host: netip.MustParseAddr("fd00::5"), Port: 25, Protocol: TCP, State: StateFiltered},
		},
		Stats:       Stats{Attempts: 505, Open: 3, Closed: 498, Filtered: 4},
		Interrupted: true,
	}
}

func TestOutputGolden(t *testing.T) {
	formats := map[string]func(*bytes.Buffer, Result) error{
		"result.txt":  func(b *bytes.Buffer, r Result) error { return WriteTable(b, r) },
		"result.json": func(b *bytes.Buffer, r Result) error { return WriteJSON(b, r) },
		"result.csv":  func(b *bytes.Buffer, r Result) error { return WriteCSV(b, r) },
	}
	for name, write := range formats {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := write(&buf, fixedResult()); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name)
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("%s differs from the golden file (go test -update to accept):\n%s", name, buf.String())
			}
		})
	}
}

func TestWriteJSONEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, Result{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`"findings": []`)) {
		t.Errorf("empty findings not []: %s", buf.String())
	}
}

func TestSanitizeBanner(t *testing.T) {
	long := bytes.Repeat([]byte("é"), 200) // 400 bytes
	tests := []struct{ in, want string }{
		{"SSH-2.0-OpenSSH_9.2\r\n", "SSH-2.0-OpenSSH_9.2"},
		{"220  mail\r\n ESMTP\t", "220 mail ESMTP"},
		{"\x1b[2Jboom\x00\xff", "?[2Jboom??"},
		{string(long), string(long[:256])},
	}
	for _, tt := range tests {
		if got := SanitizeBanner([]byte(tt.in)); got != tt.want {
			t.Errorf("SanitizeBanner(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
