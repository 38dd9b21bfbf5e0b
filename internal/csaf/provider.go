package csaf

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The CSAF provider's directory (CSAF 2.0 section 7): provider-metadata.json, one folder per
// TLP label with YYYY/ folders named by the initial release year, index.txt, changes.csv,
// .sha256, .sha512 and .asc files next to each document, a ROLIE feed and category document
// per TLP, and a ROLIE service document. BuildProvider makes all of it, in memory, from the
// published documents; the server serves it under /.well-known/csaf/.

// TLP folders, in order. A document without a TLP label goes into "white" (it is public).
var providerTLPs = []string{"white", "green", "amber", "red"}

// PublicTLP tells whether documents of a TLP folder may be served to anyone.
func PublicTLP(folder string) bool { return folder == "white" || folder == "green" }

// ProviderInput is what BuildProvider needs.
type ProviderInput struct {
	// BaseURL is the scheme and host the provider is reached at, such as
	// https://security.acme.example (no trailing slash).
	BaseURL string
	// Publisher of the metadata: a name and a namespace URL.
	PublisherName, PublisherNamespace string
	// Key signs the documents; its public key is served at openpgp/FINGERPRINT.asc.
	Key *OpenPGPKey
	// Documents are the newest published revision of each advisory.
	Documents []ProviderDocument
	// Memo, when set, keeps what each document costs to read, hash and sign between builds
	// (a build for another base URL, or after one more publication, redoes only the rest).
	Memo *ProviderMemo
}

// ProviderMemo remembers, by a document's SHA-256, its summary, SHA-512 and signature. It is
// not safe for concurrent builds; it keeps only the documents of the last build.
type ProviderMemo struct {
	docs map[string]*docArtifacts
}

type docArtifacts struct {
	sum       Summary
	sha512hex string
	sig       []byte
}

// ProviderDocument is one published CSAF document.
type ProviderDocument struct {
	Data        []byte
	PublishedAt time.Time
}

// ProviderFile is one file of the directory.
type ProviderFile struct {
	Data        []byte
	ContentType string
	ModTime     time.Time
}

// Provider is a built directory: files by path below /.well-known/csaf/ ("white/2026/x.json",
// "white/", "provider-metadata.json"; directories end in "/").
type Provider struct {
	Files map[string]*ProviderFile
}

// WellKnown is the path the directory is served under.
const WellKnown = "/.well-known/csaf/"

type providerEntry struct {
	path, folder, tlp    string // "2026/x.json", "white", "WHITE" or ""
	trackingID, title    string
	initial, current     time.Time
	data                 []byte
	sha256hex, sha512hex string
	published            time.Time
	art                  *docArtifacts
}

// BuildProvider builds the provider's directory from its published documents.
func BuildProvider(in ProviderInput) (*Provider, error) {
	if in.Key == nil {
		return nil, errors.New("csaf provider: no OpenPGP key")
	}
	base := strings.TrimSuffix(in.BaseURL, "/") + WellKnown
	p := &Provider{Files: map[string]*ProviderFile{}}
	byFolder := map[string][]providerEntry{}
	seen := map[string]string{}
	var lastUpdated time.Time
	memo := map[string]*docArtifacts{}
	for _, d := range in.Documents {
		h256 := sha256.Sum256(d.Data)
		sha256hex := hex.EncodeToString(h256[:])
		art := memo[sha256hex]
		if art == nil && in.Memo != nil {
			art = in.Memo.docs[sha256hex]
		}
		if art == nil {
			doc, err := Parse(d.Data)
			if err != nil {
				return nil, fmt.Errorf("csaf provider: %w", err)
			}
			h512 := sha512.Sum512(d.Data)
			art = &docArtifacts{sum: doc.Summarize(), sha512hex: hex.EncodeToString(h512[:])}
		}
		memo[sha256hex] = art
		sum := art.sum
		e := providerEntry{tlp: strings.ToUpper(sum.TLP), trackingID: sum.TrackingID, title: sum.Title,
			initial: sum.InitialRelease.UTC(), current: sum.CurrentRelease.UTC(), data: d.Data, published: d.PublishedAt.UTC(),
			art: art}
		e.folder = strings.ToLower(e.tlp)
		if e.tlp == "" || e.tlp == "CLEAR" {
			e.folder = "white"
		}
		if !slices.Contains(providerTLPs, e.folder) {
			return nil, fmt.Errorf("csaf provider: %s: unknown TLP label %q", sum.TrackingID, sum.TLP)
		}
		e.path = strconv.Itoa(e.initial.Year()) + "/" + Filename(sum.TrackingID)
		if other, dup := seen[e.folder+"/"+e.path]; dup {
			// Two tracking ids with the same file name (A:1 and A_1): the standard's name
			// rule cannot tell them apart; the first one wins.
			_ = other
			continue
		}
		seen[e.folder+"/"+e.path] = sum.TrackingID
		e.sha256hex, e.sha512hex = sha256hex, art.sha512hex
		byFolder[e.folder] = append(byFolder[e.folder], e)
		if e.published.After(lastUpdated) {
			lastUpdated = e.published
		}
	}
	if lastUpdated.IsZero() {
		lastUpdated = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	}

	type link struct {
		Rel  string `json:"rel"`
		HRef string `json:"href"`
	}
	type category struct {
		Scheme string `json:"scheme"`
		Term   string `json:"term"`
	}
	csafCategory := category{Scheme: "urn:ietf:params:rolie:category:information-type", Term: "csaf"}
	var distributions []any
	var feeds []map[string]any
	var collections []map[string]any
	for _, folder := range providerTLPs {
		entries := byFolder[folder]
		if len(entries) == 0 && folder != "white" {
			continue
		}
		label := strings.ToUpper(folder)
		dirURL := base + folder + "/"
		// Newest first, for changes.csv and the feed.
		slices.SortFunc(entries, func(a, b providerEntry) int {
			if c := b.current.Compare(a.current); c != 0 {
				return c
			}
			return strings.Compare(a.path, b.path)
		})
		var index bytes.Buffer
		var changes bytes.Buffer
		cw := csv.NewWriter(&changes)
		years := map[string][]providerEntry{}
		var entryList []map[string]any
		for _, e := range entries {
			year, name, _ := strings.Cut(e.path, "/")
			years[year] = append(years[year], e)
			index.WriteString(e.path + "\n")
			_ = cw.Write([]string{e.path, e.current.Format(time.RFC3339)})
			file := folder + "/" + e.path
			mod := e.published
			p.Files[file] = &ProviderFile{Data: e.data, ContentType: "application/json", ModTime: mod}
			p.Files[file+".sha256"] = &ProviderFile{Data: []byte(e.sha256hex + "  " + name + "\n"), ContentType: "text/plain; charset=utf-8", ModTime: mod}
			p.Files[file+".sha512"] = &ProviderFile{Data: []byte(e.sha512hex + "  " + name + "\n"), ContentType: "text/plain; charset=utf-8", ModTime: mod}
			if e.art.sig == nil {
				sig, err := in.Key.Sign(e.data, e.sha256hex)
				if err != nil {
					return nil, err
				}
				e.art.sig = sig
			}
			p.Files[file+".asc"] = &ProviderFile{Data: e.art.sig, ContentType: "application/pgp-signature", ModTime: mod}
			u := dirURL + e.path
			entry := map[string]any{
				"id": e.trackingID, "title": e.title,
				"link":      []link{{"self", u}, {"hash", u + ".sha256"}, {"hash", u + ".sha512"}, {"signature", u + ".asc"}},
				"published": e.initial.Format(time.RFC3339), "updated": e.current.Format(time.RFC3339),
				"content": map[string]string{"type": "application/json", "src": u},
				"format":  map[string]string{"schema": "https://docs.oasis-open.org/csaf/csaf/v2.0/csaf_json_schema.json", "version": "2.0"},
			}
			entryList = append(entryList, entry)
		}
		cw.Flush()
		if entryList == nil {
			entryList = []map[string]any{}
		}
		p.Files[folder+"/index.txt"] = &ProviderFile{Data: index.Bytes(), ContentType: "text/plain; charset=utf-8", ModTime: lastUpdated}
		p.Files[folder+"/changes.csv"] = &ProviderFile{Data: changes.Bytes(), ContentType: "text/csv; charset=utf-8", ModTime: lastUpdated}

		feedName := "csaf-feed-tlp-" + folder + ".json"
		feedURL := dirURL + feedName
		feed := map[string]any{"feed": map[string]any{
			"id": "csaf-feed-tlp-" + folder, "title": "CSAF feed (TLP:" + label + ")",
			"link":     []link{{"self", feedURL}},
			"category": []category{csafCategory},
			"updated":  lastUpdated.Format(time.RFC3339),
			"entry":    entryList,
		}}
		if err := p.putJSON(folder+"/"+feedName, feed, lastUpdated); err != nil {
			return nil, err
		}
		if err := p.putJSON(folder+"/category-"+folder+".json",
			map[string]any{"categories": map[string]any{"category": []category{csafCategory}}}, lastUpdated); err != nil {
			return nil, err
		}

		// Directory listings: the folder (years, index, changes, feed) and each year.
		var yearNames []string
		for y := range years {
			yearNames = append(yearNames, y+"/")
		}
		slices.Sort(yearNames)
		p.Files[folder+"/"] = listing(WellKnown+folder+"/", append(yearNames, "index.txt", "changes.csv", feedName, "category-"+folder+".json"), lastUpdated)
		for y, es := range years {
			var names []string
			for _, e := range es {
				_, n, _ := strings.Cut(e.path, "/")
				names = append(names, n, n+".sha256", n+".sha512", n+".asc")
			}
			slices.Sort(names)
			p.Files[folder+"/"+y+"/"] = listing(WellKnown+folder+"/"+y+"/", names, lastUpdated)
		}

		distributions = append(distributions, map[string]any{"directory_url": dirURL})
		feeds = append(feeds, map[string]any{"summary": "TLP:" + label + " advisories", "tlp_label": label, "url": feedURL})
		collections = append(collections, map[string]any{"title": "CSAF feed (TLP:" + label + ")", "href": feedURL,
			"categories": map[string]any{"category": []category{csafCategory}}})
	}
	distributions = append(distributions, map[string]any{"rolie": map[string]any{
		"feeds": feeds, "services": []string{base + "service.json"},
	}})
	if err := p.putJSON("service.json", map[string]any{"service": map[string]any{"workspace": []any{
		map[string]any{"title": "CSAF feeds", "collection": collections}}}}, lastUpdated); err != nil {
		return nil, err
	}
	keyURL := base + "openpgp/" + in.Key.Fingerprint() + ".asc"
	p.Files["openpgp/"+in.Key.Fingerprint()+".asc"] = &ProviderFile{Data: in.Key.PublicKey(), ContentType: "application/pgp-keys", ModTime: lastUpdated}
	pmd := map[string]any{
		"canonical_url":              base + "provider-metadata.json",
		"distributions":              distributions,
		"last_updated":               lastUpdated.Format(time.RFC3339),
		"list_on_CSAF_aggregators":   true,
		"metadata_version":           "2.0",
		"mirror_on_CSAF_aggregators": true,
		"public_openpgp_keys":        []map[string]string{{"fingerprint": in.Key.Fingerprint(), "url": keyURL}},
		"publisher": map[string]string{"category": "vendor", "name": in.PublisherName,
			"namespace": in.PublisherNamespace},
		"role": "csaf_trusted_provider",
	}
	if err := p.putJSON("provider-metadata.json", pmd, lastUpdated); err != nil {
		return nil, err
	}
	if in.Memo != nil {
		in.Memo.docs = memo // the documents of this build, no others
	}
	return p, nil
}

func (p *Provider) putJSON(path string, v any, mod time.Time) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	p.Files[path] = &ProviderFile{Data: append(b, '\n'), ContentType: "application/json", ModTime: mod}
	return nil
}

// listing is an HTML directory listing with relative links.
func listing(dir string, names []string, mod time.Time) *ProviderFile {
	var b strings.Builder
	title := html.EscapeString(dir)
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of " + title + "</title></head><body>\n<h1>Index of " + title + "</h1>\n<ul>\n")
	b.WriteString("<li><a href=\"../\">../</a></li>\n")
	for _, n := range names {
		e := html.EscapeString(n)
		b.WriteString("<li><a href=\"" + e + "\">" + e + "</a></li>\n")
	}
	b.WriteString("</ul>\n</body></html>\n")
	return &ProviderFile{Data: []byte(b.String()), ContentType: "text/html; charset=utf-8", ModTime: mod}
}
