package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/package-url/packageurl-go"
	"golang.org/x/text/language"

	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/store"
	"github.com/patchday/patchday/internal/version"
)

// UpdateDef defines an update: what it fixes, where it applies, and how it installs.
type UpdateDef struct {
	Name           string        `json:"name"`
	Title          string        `json:"title"`
	Description    string        `json:"description,omitempty"`
	Classification string        `json:"classification"`     // security, critical, definition, feature
	Severity       string        `json:"severity,omitempty"` // default: the highest of its advisories
	Advisories     []string      `json:"advisories,omitempty"`
	Applicability  Applicability `json:"applicability"`
	Supersedes     []string      `json:"supersedes,omitempty"`
	Prerequisites  []string      `json:"prerequisites,omitempty"`
	Reboot         string        `json:"reboot,omitempty"` // never, maybe (default), always
	Installer      Installer     `json:"installer"`
}

// Applicability says which machines an update is for.
type Applicability struct {
	PURL          string   `json:"purl"`                    // the package, pkg:deb/debian/openssl
	Vers          string   `json:"vers,omitempty"`          // the affected versions, vers:deb/<3.0.11-1~deb12u2
	OSReleases    []string `json:"os_releases,omitempty"`   // ID:VERSION_ID of os-release, debian:12
	Architectures []string `json:"architectures,omitempty"` // amd64, arm64, ...
	Languages     []string `json:"languages,omitempty"`     // BCP 47 tags
}

// Installer says how an update installs.
type Installer struct {
	Type    string   `json:"type"`              // deb, apt or artifact
	Payload string   `json:"payload,omitempty"` // deb, artifact: SHA-256 of an uploaded payload
	Package string   `json:"package,omitempty"` // apt: the package to upgrade
	Version string   `json:"version,omitempty"` // apt: the version to reach at least
	Command []string `json:"command,omitempty"` // artifact: argv run in the unpacked archive
	Timeout string   `json:"timeout,omitempty"` // artifact: default 30m, at most 24h
}

// FieldError is a definition that breaks a rule: the field (a JSON path such as
// installer.payload or advisories[1]) and why.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return e.Field + " " + e.Reason }

func bad(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

var (
	updateNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	archRE       = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	osReleaseRE  = regexp.MustCompile(`^[a-z0-9._-]{1,64}:[A-Za-z0-9._~-]{1,64}$`)
)

// maxListLen bounds every list of a definition.
const maxListLen = 256

// CreateUpdate checks a definition against the rules and the organisation's catalog and
// stores it. Broken rules give a *FieldError naming the field.
func CreateUpdate(ctx context.Context, tx *store.Tx, orgID int64, d UpdateDef, actor string) (store.Update, error) {
	if !updateNameRE.MatchString(d.Name) {
		return store.Update{}, bad("name", "must be 1-128 characters of A-Z, a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
	}
	if strings.TrimSpace(d.Title) == "" || len(d.Title) > 300 {
		return store.Update{}, bad("title", "is required, at most 300 characters")
	}
	if len(d.Description) > 64<<10 {
		return store.Update{}, bad("description", "must be at most 64 KiB")
	}
	switch d.Classification {
	case "security", "critical", "definition", "feature":
	default:
		return store.Update{}, bad("classification", "must be security, critical, definition or feature")
	}
	switch d.Reboot {
	case "":
		d.Reboot = "maybe"
	case "never", "maybe", "always":
	default:
		return store.Update{}, bad("reboot", "must be never, maybe or always")
	}
	for field, list := range map[string][]string{"advisories": d.Advisories, "supersedes": d.Supersedes,
		"prerequisites": d.Prerequisites, "applicability.os_releases": d.Applicability.OSReleases,
		"applicability.architectures": d.Applicability.Architectures, "applicability.languages": d.Applicability.Languages} {
		if len(list) > maxListLen {
			return store.Update{}, bad(field, "must have at most %d entries", maxListLen)
		}
	}

	var links store.UpdateLinks
	severity := "unknown"
	for i, tid := range d.Advisories {
		a, err := tx.AdvisoryByTrackingID(ctx, orgID, tid)
		if errors.Is(err, store.ErrNotFound) {
			return store.Update{}, bad(fmt.Sprintf("advisories[%d]", i), "names an advisory %q that is not in the catalog", tid)
		} else if err != nil {
			return store.Update{}, err
		}
		links.Advisories = append(links.Advisories, a.ID)
		if csaf.SeverityRank(a.Severity) > csaf.SeverityRank(severity) {
			severity = a.Severity
		}
	}
	if d.Severity == "" {
		d.Severity = severity
	} else if csaf.SeverityRank(d.Severity) < 0 && d.Severity != "unknown" {
		return store.Update{}, bad("severity", "must be one of %s", strings.Join(csaf.Severities, ", "))
	}
	for _, rel := range []struct {
		field string
		names []string
		dst   *[]int64
	}{{"supersedes", d.Supersedes, &links.Supersedes}, {"prerequisites", d.Prerequisites, &links.Prerequisites}} {
		for i, n := range rel.names {
			if n == d.Name {
				return store.Update{}, bad(fmt.Sprintf("%s[%d]", rel.field, i), "names the update itself")
			}
			u, err := tx.UpdateByName(ctx, orgID, n)
			if errors.Is(err, store.ErrNotFound) {
				return store.Update{}, bad(fmt.Sprintf("%s[%d]", rel.field, i), "names an update %q that is not in the catalog", n)
			} else if err != nil {
				return store.Update{}, err
			}
			*rel.dst = append(*rel.dst, u.ID)
		}
	}

	ap := d.Applicability
	purl, err := packageurl.FromString(ap.PURL)
	if err != nil {
		return store.Update{}, bad("applicability.purl", "must be a package URL such as pkg:deb/debian/openssl (%v)", err)
	}
	var rng version.Range
	if ap.Vers != "" {
		if rng, err = version.ParseRange(ap.Vers); err != nil {
			return store.Update{}, bad("applicability.vers", "%v", err)
		}
		if rng.Scheme != purl.Type {
			return store.Update{}, bad("applicability.vers", "uses the versioning scheme %q, but the package is of type %q", rng.Scheme, purl.Type)
		}
		if rng.Scheme == "deb" {
			if err := rng.CheckDebianOrder(); err != nil {
				return store.Update{}, bad("applicability.vers", "%v", err)
			}
		}
	}
	for i, a := range ap.Architectures {
		if !archRE.MatchString(a) {
			return store.Update{}, bad(fmt.Sprintf("applicability.architectures[%d]", i), "must be an architecture name such as amd64")
		}
	}
	for i, o := range ap.OSReleases {
		if !osReleaseRE.MatchString(o) {
			return store.Update{}, bad(fmt.Sprintf("applicability.os_releases[%d]", i), "must be ID:VERSION_ID of os-release, such as debian:12")
		}
	}
	for i, l := range ap.Languages {
		if _, err := language.Parse(l); err != nil {
			return store.Update{}, bad(fmt.Sprintf("applicability.languages[%d]", i), "must be a BCP 47 language tag such as en or de-CH")
		}
	}

	u := store.Update{OrgID: orgID, Name: d.Name, Title: d.Title, Classification: d.Classification,
		Severity: d.Severity, Installer: d.Installer.Type, PURL: ap.PURL, CreatedBy: actor}
	in := &d.Installer
	fixed, hasFixed := rng.UpperBound()
	switch in.Type {
	case "deb", "artifact":
		if in.Package != "" || in.Version != "" {
			return store.Update{}, bad("installer.package", "is for the apt installer only")
		}
		p, err := tx.PayloadByDigest(ctx, orgID, strings.ToLower(in.Payload))
		if errors.Is(err, store.ErrNotFound) {
			return store.Update{}, bad("installer.payload", "must be the SHA-256 of a payload uploaded to this organisation")
		} else if err != nil {
			return store.Update{}, err
		}
		in.Payload = p.Digest
		u.PayloadID = &p.ID
		if in.Type == "deb" {
			if p.DebPackage == "" {
				return store.Update{}, bad("installer.payload", "is not a Debian package")
			}
			if purl.Type != "deb" || purl.Name != p.DebPackage {
				return store.Update{}, bad("applicability.purl", "names package %q, but the payload is package %q", purl.Name, p.DebPackage)
			}
			// The package installs exactly its own version on its own architecture: the range
			// must end just below that version, and name no other architecture.
			if !hasFixed {
				return store.Update{}, bad("applicability.vers", "must give the affected versions with one upper bound, <%s (the payload's version)", p.DebVersion)
			}
			if fixed != p.DebVersion {
				return store.Update{}, bad("applicability.vers", "says %s fixes the package, but the payload is version %s", fixed, p.DebVersion)
			}
			if p.DebArch != "all" && (len(ap.Architectures) > 1 || len(ap.Architectures) == 1 && ap.Architectures[0] != p.DebArch) {
				return store.Update{}, bad("applicability.architectures", "must be [%s], the payload's architecture", p.DebArch)
			}
			if len(ap.Architectures) == 0 && p.DebArch != "all" {
				d.Applicability.Architectures = []string{p.DebArch}
			}
			if len(in.Command) > 0 || in.Timeout != "" {
				return store.Update{}, bad("installer.command", "is for the artifact installer only")
			}
		} else {
			if len(in.Command) == 0 || len(in.Command) > 64 || in.Command[0] == "" {
				return store.Update{}, bad("installer.command", "must be the program and its arguments (1-64 items)")
			}
			if in.Timeout == "" {
				in.Timeout = "30m"
			}
			t, err := time.ParseDuration(in.Timeout)
			if err != nil || t < time.Second || t > 24*time.Hour {
				return store.Update{}, bad("installer.timeout", "must be a duration from 1s to 24h, such as 30m")
			}
		}
	case "apt":
		if in.Payload != "" || len(in.Command) > 0 {
			return store.Update{}, bad("installer.payload", "is not used by the apt installer")
		}
		if purl.Type != "deb" {
			return store.Update{}, bad("applicability.purl", "must be a Debian package (pkg:deb/...) for the apt installer")
		}
		if in.Package == "" {
			in.Package = purl.Name
		}
		if in.Package != purl.Name {
			return store.Update{}, bad("installer.package", "is %q, but the applicability names package %q", in.Package, purl.Name)
		}
		if in.Version == "" && hasFixed {
			in.Version = fixed
		}
		if in.Version == "" {
			return store.Update{}, bad("installer.version", "is required: the version to upgrade to at least")
		}
		if hasFixed && in.Version != fixed {
			return store.Update{}, bad("installer.version", "is %s, but applicability.vers says %s fixes the package", in.Version, fixed)
		}
	default:
		return store.Update{}, bad("installer.type", "must be deb, apt or artifact")
	}
	// Without HTML escaping: a vers range such as "vers:deb/<1.0-2" reads as written in
	// the API and the CLI.
	var def bytes.Buffer
	enc := json.NewEncoder(&def)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return store.Update{}, err
	}
	u.Definition = bytes.TrimSpace(def.Bytes())
	out, err := tx.CreateUpdate(ctx, u, links)
	if errors.Is(err, store.ErrConflict) {
		return store.Update{}, bad("name", "is already used by another update")
	}
	return out, err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
