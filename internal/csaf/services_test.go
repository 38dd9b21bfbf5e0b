package csaf

import (
	"os"
	"reflect"
	"testing"
)

func TestMatchService(t *testing.T) {
	data, err := os.ReadFile("testdata/services.json")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if fs := d.Check(); len(fs) > 0 {
		t.Fatalf("the fixture is not a valid CSAF document: %v", fs)
	}
	m := func(vuln, id, by string) ServiceMatch {
		return ServiceMatch{Vulnerability: vuln, ProductID: id, By: by}
	}
	tests := []struct {
		name, product, version string
		want                   []ServiceMatch
	}{
		{"exact version", "OpenSSH", "9.2p1", []ServiceMatch{m("CVE-2023-38408", "openssh-9.2p1", "version")}},
		{"vendor and name", "OpenBSD OpenSSH", "9.2p1", []ServiceMatch{m("CVE-2023-38408", "openssh-9.2p1", "version")}},
		{"fixed version", "OpenSSH", "9.3p2", nil},
		{"other version", "OpenSSH", "9.6p1", nil},
		{"no version", "OpenSSH", "", nil},
		{"in range", "nginx", "1.22.1", []ServiceMatch{m("CVE-2022-41741", "nginx-lt-1.22.2", "range")}},
		{"in range, case", "NGINX", "1.18.0", []ServiceMatch{m("CVE-2022-41741", "nginx-lt-1.22.2", "range")}},
		{"range end", "nginx", "1.22.2", nil},
		{"above range", "nginx", "1.24.0", nil},
		{"below range", "nginx", "0.9.9", nil},
		{"cpe product and version", "PostgreSQL", "15.4", []ServiceMatch{m("CVE-2023-5869", "pg-15.4", "version")}},
		{"cpe other version", "PostgreSQL", "15.5", nil},
		{"full name with version", "Exim", "4.96", []ServiceMatch{m("CVE-2023-5869", "exim-4.96", "version")}},
		{"full name other version", "Exim", "4.97", nil},
		{"every version", "Microsoft SQL Server", "16.0.1000.6", []ServiceMatch{m("Resolution service amplification", "mssql", "product")}},
		{"unknown product", "lighttpd", "1.4.69", nil},
		{"empty product", "", "1.0", nil},
		{"a name's prefix is not the name", "Open", "9.2p1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := d.MatchService(tt.product, tt.version)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("MatchService(%q, %q) = %v, want %v", tt.product, tt.version, got, tt.want)
			}
		})
	}
}
