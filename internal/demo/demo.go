// Package demo loads a realistic catalog into a fresh server, so that a new user has
// something to look at: a monthly release of advisories (a critical remote code execution in
// a network service, a browser update for several versions, architectures and languages, a
// workaround-only advisory with mitigating factors, a revised advisory), with their products,
// updates and a payload; and a small fleet of computers, as if their agents had reported in,
// with groups for a pilot ring and the rest.
package demo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/patchday/patchday/internal/blob"
	"github.com/patchday/patchday/internal/catalog"
	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/store"
)

//go:embed data/*.yaml
var forms embed.FS

// Actor is the name the demo's changes are recorded under.
const Actor = "patchday-demo"

// ReleaseDay is the monthly release day on or before t: the second Tuesday of the month,
// 10:00 UTC, the release calendar's default.
func ReleaseDay(t time.Time) time.Time {
	t = t.UTC()
	for m := 0; m < 2; m++ {
		first := time.Date(t.Year(), t.Month()-time.Month(m), 1, 10, 0, 0, 0, time.UTC)
		d := first.AddDate(0, 0, (int(time.Tuesday)-int(first.Weekday())+7)%7+7)
		if !d.After(t) {
			return d
		}
	}
	panic("unreachable")
}

// form reads one embedded form, filled in for the release.
func form(name string, release time.Time) (csaf.Form, error) {
	b, err := forms.ReadFile("data/" + name)
	if err != nil {
		return csaf.Form{}, err
	}
	tmpl, err := template.New(name).Parse(string(b))
	if err != nil {
		return csaf.Form{}, fmt.Errorf("demo form %s: %w", name, err)
	}
	var out bytes.Buffer
	err = tmpl.Execute(&out, map[string]string{
		"Year": release.Format("2006"), "Month": release.Format("01"), "Release": release.Format(time.RFC3339),
	})
	if err != nil {
		return csaf.Form{}, fmt.Errorf("demo form %s: %w", name, err)
	}
	f, err := csaf.ParseForm(out.Bytes())
	if err != nil {
		return csaf.Form{}, fmt.Errorf("demo form %s: %w", name, err)
	}
	return f, nil
}

// Load fills the organisation with the demo catalog, as of now.
func Load(ctx context.Context, st *store.Store, blobs *blob.Disk, orgSlug string, now time.Time) error {
	org, err := st.OrgBySlug(ctx, orgSlug)
	if err != nil {
		return err
	}
	release := ReleaseDay(now)
	var docs [][]byte
	tracking := map[string]string{}
	for _, name := range []string{"sql-engine.yaml", "browser.yaml", "mail-workaround.yaml", "openssl.yaml"} {
		f, err := form(name, release)
		if err != nil {
			return err
		}
		doc, err := f.Build(release)
		if err != nil {
			return fmt.Errorf("demo form %s: %w", name, err)
		}
		docs = append(docs, doc)
		tracking[name] = f.TrackingID
		if name == "openssl.yaml" {
			// Two days later the advisory is revised: the fixed version for Debian 12.
			f.Vulnerabilities[0].Fixed = []csaf.FormFix{{Products: csaf.ProductKeys{"openssl-3.0"}, FixedVersion: "3.0.11-1~deb12u2"}}
			f.Summary += " Revision 2 names the fixed package for Debian 12."
			v2, err := csaf.ReviseWithForm(doc, f, "Added the fixed version for Debian 12.", release.Add(48*time.Hour))
			if err != nil {
				return fmt.Errorf("demo revision: %w", err)
			}
			docs = append(docs, v2)
		}
	}
	var valid []*catalog.Document
	for _, d := range docs {
		v, err := catalog.ValidateAdvisory(d)
		if err != nil {
			return fmt.Errorf("demo advisory: %w", err)
		}
		valid = append(valid, v)
	}
	payload, err := browserPayload()
	if err != nil {
		return err
	}
	info, err := blobs.Put(ctx, bytes.NewReader(payload), blob.Expect{})
	if err != nil {
		return fmt.Errorf("demo payload: %w", err)
	}
	return st.Update(ctx, func(tx *store.Tx) error {
		for _, p := range products(org.ID) {
			if _, err := tx.CreateProduct(ctx, p); err != nil {
				return err
			}
		}
		for _, d := range valid {
			if _, err := catalog.ImportAdvisory(ctx, tx, org.ID, d, Actor); err != nil {
				return fmt.Errorf("demo advisory: %w", err)
			}
		}
		if _, _, err := tx.SavePayload(ctx, store.Payload{OrgID: org.ID, Digest: info.Digest, Size: info.Size,
			MediaType: "application/gzip", Filename: "example-browser-esr-128.5.0.tar.gz", CreatedBy: Actor}); err != nil {
			return err
		}
		for _, u := range updates(tracking, info.Digest) {
			if _, err := catalog.CreateUpdate(ctx, tx, org.ID, u, Actor); err != nil {
				return fmt.Errorf("demo update %s: %w", u.Name, err)
			}
		}
		if err := loadComputers(ctx, tx, org.ID, now); err != nil {
			return fmt.Errorf("demo computers: %w", err)
		}
		if err := loadScan(ctx, tx, org.ID, now); err != nil {
			return fmt.Errorf("demo scan: %w", err)
		}
		orgID := org.ID
		details, _ := json.Marshal(map[string]any{"advisories": len(docs), "release": release, "computers": len(fleet())})
		_, err := tx.AppendAudit(ctx, store.AuditEvent{OrgID: &orgID, Actor: Actor, Action: "demo.load", ObjectType: "org",
			ObjectID: orgSlug, Source: "local", RequestID: "demo", Details: details})
		return err
	})
}

func products(orgID int64) []store.Product {
	return []store.Product{
		{OrgID: orgID, Vendor: "Example Software", Name: "Example SQL Engine", VersionLine: "2012", ReleasedOn: "2012-04-01",
			MainstreamEnd: "2017-07-11", ExtendedEnd: "2022-07-12", PURL: "pkg:deb/example/example-sql-engine"},
		{OrgID: orgID, Vendor: "Example Software", Name: "Example SQL Engine", VersionLine: "2019", ReleasedOn: "2019-11-04",
			MainstreamEnd: "2025-02-28", ExtendedEnd: "2030-01-08", PURL: "pkg:deb/example/example-sql-engine"},
		{OrgID: orgID, Vendor: "Example Software", Name: "Example SQL Engine", VersionLine: "2022", ReleasedOn: "2022-11-16",
			MainstreamEnd: "2028-01-11", ExtendedEnd: "2033-01-11", PURL: "pkg:deb/example/example-sql-engine"},
		{OrgID: orgID, Vendor: "Example Software", Name: "Example Browser ESR", VersionLine: "128", ReleasedOn: "2024-07-09",
			MainstreamEnd: "2026-09-15", PURL: "pkg:deb/example/example-browser-esr"},
		{OrgID: orgID, Vendor: "Example Software", Name: "Example Mail Server", VersionLine: "4.96",
			CPE: "cpe:2.3:a:example:mail_server:4.96:*:*:*:*:*:*:*", ReleasedOn: "2025-06-03", MainstreamEnd: "2027-06-01"},
		{OrgID: orgID, Vendor: "OpenSSL", Name: "OpenSSL", VersionLine: "3.0", PURL: "pkg:deb/debian/openssl",
			ReleasedOn: "2021-09-07", MainstreamEnd: "2026-09-07"},
		{OrgID: orgID, Vendor: "Debian", Name: "Debian GNU/Linux", VersionLine: "11", CPE: "cpe:2.3:o:debian:debian_linux:11:*:*:*:*:*:*:*",
			ReleasedOn: "2021-08-14", MainstreamEnd: "2024-08-14", ExtendedEnd: "2026-08-31"},
		{OrgID: orgID, Vendor: "Debian", Name: "Debian GNU/Linux", VersionLine: "12", CPE: "cpe:2.3:o:debian:debian_linux:12:*:*:*:*:*:*:*",
			ReleasedOn: "2023-06-10", MainstreamEnd: "2026-06-10", ExtendedEnd: "2028-06-30"},
	}
}

func updates(tracking map[string]string, payload string) []catalog.UpdateDef {
	sql, browser, openssl := tracking["sql-engine.yaml"], tracking["browser.yaml"], tracking["openssl.yaml"]
	return []catalog.UpdateDef{
		{Name: "example-sql-engine-2019.150.4390", Title: "Security update for Example SQL Engine 2019", Classification: "critical",
			Advisories:    []string{sql},
			Applicability: catalog.Applicability{PURL: "pkg:deb/example/example-sql-engine", Vers: "vers:deb/>=2019|<2019.150.4390", Architectures: []string{"amd64"}},
			Reboot:        "never", Installer: catalog.Installer{Type: "apt"}},
		{Name: "example-sql-engine-2022.160.4140", Title: "Security update for Example SQL Engine 2022", Classification: "critical",
			Advisories:    []string{sql},
			Applicability: catalog.Applicability{PURL: "pkg:deb/example/example-sql-engine", Vers: "vers:deb/>=2022|<2022.160.4140", Architectures: []string{"amd64"}},
			Reboot:        "never", Installer: catalog.Installer{Type: "apt"}},
		{Name: "example-browser-esr-128.5.0", Title: "Example Browser ESR 128.5", Classification: "security",
			Advisories: []string{browser},
			Applicability: catalog.Applicability{PURL: "pkg:generic/example/example-browser-esr", Vers: "vers:generic/>=128|<128.5.0",
				Architectures: []string{"amd64", "arm64"}, Languages: []string{"en", "de", "fr"}},
			Reboot: "never", Installer: catalog.Installer{Type: "artifact", Payload: payload, Command: []string{"sh", "install.sh"}, Timeout: "15m"}},
		{Name: "openssl-3.0.11-1-deb12u1", Title: "OpenSSL 3.0.11-1~deb12u1", Classification: "security",
			Applicability: catalog.Applicability{PURL: "pkg:deb/debian/openssl", Vers: "vers:deb/<3.0.11-1~deb12u1", OSReleases: []string{"debian:12"}},
			Reboot:        "maybe", Installer: catalog.Installer{Type: "apt"}},
		{Name: "openssl-3.0.11-1-deb12u2", Title: "OpenSSL 3.0.11-1~deb12u2", Classification: "security",
			Advisories:    []string{openssl},
			Applicability: catalog.Applicability{PURL: "pkg:deb/debian/openssl", Vers: "vers:deb/<3.0.11-1~deb12u2", OSReleases: []string{"debian:12"}},
			Supersedes:    []string{"openssl-3.0.11-1-deb12u1"},
			Reboot:        "maybe", Installer: catalog.Installer{Type: "apt"}},
	}
}

// browserPayload is the artifact of the browser update: a tar.gz with an install script.
func browserPayload() ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	files := map[string]string{
		"install.sh": "#!/bin/sh\nset -e\necho 'Installing Example Browser ESR 128.5.0 (demo payload)'\n",
		"README":     strings.Repeat("Example Browser ESR 128.5.0: demo payload of patchday.\n", 20),
	}
	for _, name := range []string{"README", "install.sh"} {
		hdr := &tar.Header{Name: name, Mode: 0o755, Size: int64(len(files[name])), ModTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(files[name])); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
