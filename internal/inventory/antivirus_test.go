package inventory

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchday/patchday/internal/protocol"
)

func cvd(header string) string {
	return header + strings.Repeat(" ", 512-len(header)) + "\x1f\x8b\x08\x00"
}

func TestParseCVDHeader(t *testing.T) {
	tests := []struct {
		name, in string
		want     CVDHeader
		wantErr  bool
	}{
		{
			name: "cvd with unix time",
			in:   cvd("ClamAV-VDB:16 Apr 2020 07-58 -0400:25784:2267600:63:92baacd59fd26e6bcf03077add78d209:4Jp9JtGJY6nUk8JHDQQp:raynman:1587038339"),
			want: CVDHeader{Version: 25784, Signatures: 2267600, Built: time.Unix(1587038339, 0).UTC()},
		},
		{
			name: "cld without signature",
			in:   cvd("ClamAV-VDB:14 Nov 2026 09-23 +0000:27461:2071043:90:X:X:raynman:1794648180"),
			want: CVDHeader{Version: 27461, Signatures: 2071043, Built: time.Date(2026, 11, 14, 9, 23, 0, 0, time.UTC)},
		},
		{
			name: "text time only",
			in:   cvd("ClamAV-VDB:16 Apr 2020 07-58 -0400:25784:2267600:63"),
			want: CVDHeader{Version: 25784, Signatures: 2267600, Built: time.Date(2020, 4, 16, 11, 58, 0, 0, time.UTC)},
		},
		{
			name: "short file, NUL padded",
			in:   "ClamAV-VDB:x:7:1:90\x00\x00",
			want: CVDHeader{Version: 7, Signatures: 1},
		},
		{name: "not a database", in: cvd("ClamAV-Diff:50:4228877:"), wantErr: true},
		{name: "bad version", in: cvd("ClamAV-VDB:x:seven:1:90"), wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCVDHeader(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseCVDHeader() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAntivirus(t *testing.T) {
	cvdTime := time.Date(2026, 11, 2, 8, 25, 0, 0, time.UTC)
	tests := []struct {
		name  string
		files map[string]string
		want  []protocol.Antivirus
	}{
		{"none", nil, nil},
		{
			"only daily.cvd, not running, no package",
			map[string]string{
				"var/lib/clamav/daily.cvd": cvd("ClamAV-VDB:02 Nov 2026 08-25 +0000:27400:2070012:90:ab:cd:raynman:1793607900"),
				"proc/77/comm":             "bash\n",
			},
			[]protocol.Antivirus{{Engine: "clamav", SignatureVersion: "27400", SignatureTime: &cvdTime}},
		},
		{
			"main only, on-access scanner",
			map[string]string{
				"var/lib/clamav/main.cvd": cvd("ClamAV-VDB:02 Nov 2026 08-25 +0000:62:6647427:90:ab:cd:sigmgr:1793607900"),
				"proc/9/comm":             "clamonacc\n",
				"var/lib/dpkg/status":     "Package: clamav-daemon\nStatus: install ok installed\nVersion: 1:0.103.11+dfsg-1\n",
			},
			[]protocol.Antivirus{{Engine: "clamav", EngineVersion: "0.103.11", SignatureVersion: "62", SignatureTime: &cvdTime, Running: true}},
		},
		{
			"unreadable header still means ClamAV",
			map[string]string{"var/lib/clamav/daily.cld": "garbage"},
			[]protocol.Antivirus{{Engine: "clamav"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tt.files)
			got := (&Collector{Root: root}).antivirus()
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("antivirus() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
