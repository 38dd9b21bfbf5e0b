package inventory

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]string
	}{
		{
			name: "Debian 12",
			in: `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION_CODENAME=bookworm
ID=debian
`,
			want: map[string]string{
				"PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)", "NAME": "Debian GNU/Linux",
				"VERSION_ID": "12", "VERSION_CODENAME": "bookworm", "ID": "debian",
			},
		},
		{
			name: "quotes and escapes",
			in: `# a comment

  INDENTED=yes
SINGLE='it is $literal \n'
` + "DOUBLE=\"say \\\"hi\\\" \\$HOME \\\\ \\` \\n\"\n" + `BARE=a\ b\"c
MIXED="a"'b'c
EMPTY=
EMPTY_QUOTES=""
TRAILING="x"   # comment
export EXPORTED=1
CRLF="y"` + "\r\n",
			want: map[string]string{
				"INDENTED":     "yes",
				"SINGLE":       `it is $literal \n`,
				"DOUBLE":       "say \"hi\" $HOME \\ ` \\n",
				"BARE":         `a b"c`,
				"MIXED":        "abc",
				"EMPTY":        "",
				"EMPTY_QUOTES": "",
				"TRAILING":     "x",
				"EXPORTED":     "1",
				"CRLF":         "y",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOSRelease(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseOSRelease() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseOSReleaseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		msg      string
	}{
		{"no equals", "ID=debian\nnonsense\n", 2, "no '='"},
		{"bad name", "ID=debian\n\n1ID=x\n", 3, "invalid variable name"},
		{"unterminated double", "NAME=\"Debian\n", 1, "unterminated double quote"},
		{"unterminated single", "ID=x\nNAME='Debian\n", 2, "unterminated single quote"},
		{"unquoted space", "NAME=Debian GNU\n", 1, "unquoted white space"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars, err := ParseOSRelease(strings.NewReader(tt.in + "VERSION_ID=12\n"))
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line != tt.line || !strings.Contains(se.Msg, tt.msg) {
				t.Fatalf("error = %v, want line %d: ...%s...", err, tt.line, tt.msg)
			}
			// The good lines are still returned.
			if vars["VERSION_ID"] != "12" {
				t.Errorf("VERSION_ID = %q after a bad line, want 12", vars["VERSION_ID"])
			}
		})
	}
}
