package scan

import (
	"fmt"
	"strings"
	"testing"
)

func TestParsePorts(t *testing.T) {
	tests := []struct {
		spec string
		want string // ports, or "#N first..last" for long lists
		err  string
	}{
		{spec: "22,80,443", want: "[22 80 443]"},
		{spec: "443, 80,22,80", want: "[22 80 443]"},
		{spec: "1-5", want: "[1 2 3 4 5]"},
		{spec: "8080,1-3,2", want: "[1 2 3 8080]"},
		{spec: "65535", want: "[65535]"},
		{spec: "7-7", want: "[7]"},
		{spec: "1-1024", want: "#1024 1..1024"},
		{spec: "top100", want: "#100 7..49157"},
		{spec: "TOP100,60000", want: "#101 7..60000"},
		{spec: "top100,22,80", want: "#100 7..49157"},
		{spec: "all", want: "#65535 1..65535"},
		{spec: "0", err: `ports "0": bad port "0"`},
		{spec: "65536", err: `ports "65536": bad port`},
		{spec: "22,http", err: `ports "http": bad port "http"`},
		{spec: "10-5", err: `ports "10-5": range end 5 is below its start 10`},
		{spec: "5-", err: `ports "5-": bad port ""`},
		{spec: "-5", err: `ports "-5": bad port ""`},
		{spec: "1-2-3", err: `ports "1-2-3": bad port "2-3"`},
		{spec: "", err: "no ports"},
		{spec: " , ", err: "no ports"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParsePorts(tt.spec)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := fmt.Sprint(got)
			if strings.HasPrefix(tt.want, "#") {
				s = fmt.Sprintf("#%d %d..%d", len(got), got[0], got[len(got)-1])
			}
			if s != tt.want {
				t.Errorf("got %s, want %s", s, tt.want)
			}
			for i := 1; i < len(got); i++ {
				if got[i] <= got[i-1] {
					t.Fatalf("not sorted and unique at %d: %d, %d", i, got[i-1], got[i])
				}
			}
		})
	}
}

func TestTop100(t *testing.T) {
	seen := map[uint16]bool{}
	for _, p := range Top100TCP {
		seen[p] = true
	}
	if len(Top100TCP) != 100 || len(seen) != 100 {
		t.Errorf("%d ports, %d distinct", len(Top100TCP), len(seen))
	}
	for _, p := range []uint16{21, 22, 23, 25, 53, 80, 110, 135, 139, 143, 443, 445, 1433, 3306, 3389, 5432, 5900, 8080} {
		if !seen[p] {
			t.Errorf("top100 lacks %d", p)
		}
	}
}

// FormatPorts writes what ParsePorts reads, in one canonical form.
func TestFormatPorts(t *testing.T) {
	for _, tc := range []struct {
		in   []uint16
		want string
	}{
		{[]uint16{443, 22, 80, 81, 82, 22}, "22,80-82,443"},
		{[]uint16{1}, "1"},
		{nil, ""},
		{[]uint16{65535, 65534}, "65534-65535"},
	} {
		got := FormatPorts(tc.in)
		if got != tc.want {
			t.Errorf("FormatPorts(%v) = %q, want %q", tc.in, got, tc.want)
		}
		if got == "" {
			continue
		}
		back, err := ParsePorts(got)
		if err != nil || FormatPorts(back) != got {
			t.Errorf("ParsePorts(%q) = %v, %v: not the same ports", got, back, err)
		}
	}
}
