package csaf

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// providerDocs are the testdata documents as a provider's input.
func providerDocs(t testing.TB) []ProviderDocument {
	t.Helper()
	var out []ProviderDocument
	for _, name := range []string{"services.json", "bulletin-groups.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ProviderDocument{Data: b, PublishedAt: time.Date(2026, 11, 10, 10, 0, 0, 0, time.UTC)})
	}
	return out
}

// A directory built with a memo is the one built without, for any base URL; the memo keeps
// each document's signature, so a build for another base signs nothing again (signatures
// carry their time: made again, they would differ).
func TestProviderMemo(t *testing.T) {
	key, _, err := LoadOrCreateOpenPGPKey(filepath.Join(t.TempDir(), "k.asc"), "test", "")
	if err != nil {
		t.Fatal(err)
	}
	docs := providerDocs(t)
	var memo ProviderMemo
	build := func(base string, m *ProviderMemo) *Provider {
		t.Helper()
		p, err := BuildProvider(ProviderInput{BaseURL: base, PublisherName: "Example", PublisherNamespace: base, Key: key, Documents: docs, Memo: m})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := build("https://a.example", &memo)
	time.Sleep(1100 * time.Millisecond) // a signature made now would carry another second
	b := build("https://b.example", &memo)
	plain := build("https://b.example", nil)
	if len(b.Files) != len(plain.Files) {
		t.Fatalf("%d files with the memo, %d without", len(b.Files), len(plain.Files))
	}
	sigs := 0
	for name, f := range b.Files {
		g := plain.Files[name]
		switch {
		case g == nil:
			t.Errorf("%s only with the memo", name)
		case strings.HasSuffix(name, ".asc") && !strings.HasPrefix(name, "openpgp/"):
			sigs++
			if !bytes.Equal(f.Data, a.Files[name].Data) {
				t.Errorf("%s: signed again for the second base", name)
			}
		case !bytes.Equal(f.Data, g.Data):
			t.Errorf("%s differs with the memo", name)
		}
	}
	if sigs != len(docs) {
		t.Errorf("%d document signatures, want %d", sigs, len(docs))
	}
	if !bytes.Contains(b.Files["provider-metadata.json"].Data, []byte("https://b.example/.well-known/csaf/")) {
		t.Error("the second build does not use its own base URL")
	}
}

// Building the directory for another base URL, with the memo of the last build and without.
//
//	go test -run '^$' -bench ProviderRebuild ./internal/csaf
func BenchmarkProviderRebuild(b *testing.B) {
	key, _, err := LoadOrCreateOpenPGPKey(filepath.Join(b.TempDir(), "k.asc"), "test", "")
	if err != nil {
		b.Fatal(err)
	}
	docs := providerDocs(b)
	for _, tc := range []struct {
		name string
		memo *ProviderMemo
	}{{"memo", &ProviderMemo{}}, {"none", nil}} {
		b.Run(tc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				base := "https://h" + string(rune('a'+i%26)) + ".example"
				if _, err := BuildProvider(ProviderInput{BaseURL: base, PublisherName: "E", PublisherNamespace: base, Key: key, Documents: docs, Memo: tc.memo}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
