package inventory

import (
	"reflect"
	"testing"
)

func TestLocaleToBCP47(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"de_CH.UTF-8", "de-CH", true},
		{"en_US.UTF-8", "en-US", true},
		{"fr_FR@euro", "fr-FR", true},
		{"sr_RS@latin", "sr-Latn-RS", true},
		{"ca_ES.UTF-8@valencia", "ca-ES-valencia", true},
		{"de", "de", true},
		{"pt_BR", "pt-BR", true},
		{"C", "", false},
		{"POSIX", "", false},
		{"C.UTF-8", "", false},
		{"", "", false},
		{"not a locale", "", false},
	}
	for _, tt := range tests {
		got, ok := LocaleToBCP47(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("LocaleToBCP47(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLanguages(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"none", nil, nil},
		{"locale.conf", map[string]string{"etc/locale.conf": "LANG=fr_CH.UTF-8\nLC_TIME=de_CH.UTF-8\n"}, []string{"fr-CH"}},
		{"only C", map[string]string{"etc/default/locale": "LANG=C.UTF-8\n", "etc/locale.gen": "C.UTF-8 UTF-8\n# de_DE.UTF-8 UTF-8\n"}, nil},
		{
			"all sources, duplicates",
			map[string]string{
				"etc/default/locale": "LANG=\"en_GB.UTF-8\"\nLANGUAGE=\"en_GB:en\"\n",
				"etc/locale.conf":    "LANG=en_GB.UTF-8\n",
				"etc/locale.gen":     "en_GB.UTF-8 UTF-8\n  it_IT.UTF-8 UTF-8\n#de_DE.UTF-8 UTF-8\n",
			},
			[]string{"en", "en-GB", "it-IT"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tt.files)
			if got := (&Collector{Root: root}).languages(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("languages() = %q, want %q", got, tt.want)
			}
		})
	}
}
