package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/store"
)

// The CSAF provider: the published advisories of one organisation (Config.CSAFProviderOrg)
// as a CSAF 2.0 trusted provider under /.well-known/csaf/, and /.well-known/security.txt
// pointing to it. TLP:WHITE (CLEAR) and GREEN are public; AMBER and RED need a token of a
// member of the provider organisation. Members who may read embargoed advisories (admins,
// operators, partners) find in the AMBER and RED folders the advisories of those labels
// that wait for their release too: a partner's early access through the provider.

// providerCache keeps the built directories (published, and with early access) until what
// is published or stored changes.
type providerCache struct {
	mu    sync.Mutex
	key   [2]string
	built [2]*csaf.Provider
	// memo keeps each directory's per-document work (parsing, hashes, signatures), so that a
	// build for another base URL (the request's Host when Config.PublicURL is not set: any
	// client may send any) or after one more publication costs little.
	memo [2]csaf.ProviderMemo
}

// providerBase is the scheme and host the provider's URLs use: Config.PublicURL, else the
// request's own.
func (s *Server) providerBase(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// provider returns the provider organisation's directory, built again when something was
// published or stored since (or the base URL differs). With early, it holds the newest
// revision of every advisory, embargoed or not.
func (s *Server) provider(ctx context.Context, base string, early bool) (*csaf.Provider, store.Org, error) {
	org, err := s.orgBySlug(ctx, s.cfg.CSAFProviderOrg)
	if errors.Is(err, store.ErrNotFound) {
		return nil, org, errNotFound("CSAF provider")
	} else if err != nil {
		return nil, org, err
	}
	published, err := s.store.PublishedState(ctx, org.ID, false)
	if err != nil {
		return nil, org, err
	}
	key := itoa(org.ID) + " " + itoa(published) + " " + base + " " + org.Name
	which := 0
	if early {
		stored, err := s.store.PublishedState(ctx, org.ID, true)
		if err != nil {
			return nil, org, err
		}
		key += " " + itoa(stored)
		which = 1
	}
	pc := &s.providerCache
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.built[which] != nil && pc.key[which] == key {
		return pc.built[which], org, nil
	}
	docs, err := s.store.PublishedDocuments(ctx, org.ID, early)
	if err != nil {
		return nil, org, err
	}
	in := csaf.ProviderInput{BaseURL: base, PublisherName: org.Name, PublisherNamespace: base, Key: s.cfg.OpenPGPKey,
		Memo: &pc.memo[which]}
	if in.PublisherName == "" {
		in.PublisherName = org.Slug
	}
	for _, d := range docs {
		in.Documents = append(in.Documents, csaf.ProviderDocument{Data: d.Document, PublishedAt: d.PublishedAt})
	}
	p, err := csaf.BuildProvider(in)
	if err != nil {
		return nil, org, err
	}
	pc.key[which], pc.built[which] = key, p
	return p, org, nil
}

// serveProviderFile answers one file of the directory (rel is below /.well-known/csaf/).
func (s *Server) serveProviderFile(c *call, rel string) error {
	p, org, err := s.provider(c.r.Context(), s.providerBase(c.r), false)
	if err != nil {
		return err
	}
	folder, _, _ := strings.Cut(rel, "/")
	restricted := strings.Contains(rel, "/") && !csaf.PublicTLP(folder) && folder != "openpgp"
	if restricted {
		// TLP:AMBER and RED: members of the provider organisation only; those who may read
		// embargoed advisories get the early-access directory.
		if err := s.authenticateUser(c); err != nil {
			return err
		}
		role, member := memberRole(c.member, org.ID)
		if !c.user.SiteAdmin && !member {
			return errNotFound("file " + quote(csaf.WellKnown+rel))
		}
		if c.user.SiteAdmin || role == store.RoleAdmin || role == store.RoleOperator || role == store.RolePartner {
			if p, _, err = s.provider(c.r.Context(), s.providerBase(c.r), true); err != nil {
				return err
			}
		}
	}
	f, ok := p.Files[rel]
	if !ok {
		return errNotFound("file " + quote(csaf.WellKnown+rel))
	}
	h := c.w.Header()
	h.Set("Content-Type", f.ContentType)
	if restricted {
		h.Set("Cache-Control", "private, no-store")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("Access-Control-Allow-Origin", "*")
	}
	http.ServeContent(c.w, c.r, "", f.ModTime, bytes.NewReader(f.Data))
	return nil
}

// memberRole is the caller's role in an organisation, and whether it is a member at all.
func memberRole(ms []store.Membership, orgID int64) (store.Role, bool) {
	for _, m := range ms {
		if m.OrgID == orgID {
			return m.Role, true
		}
	}
	return "", false
}

func (s *Server) providerMetadata(c *call) error {
	return s.serveProviderFile(c, "provider-metadata.json")
}

func (s *Server) providerService(c *call) error { return s.serveProviderFile(c, "service.json") }

func (s *Server) providerKey(c *call) error {
	return s.serveProviderFile(c, "openpgp/"+c.r.PathValue("file"))
}

// providerFile serves the TLP folders: documents with their hashes and signatures, index.txt,
// changes.csv, the ROLIE feed and category document, and directory listings.
func (s *Server) providerFile(c *call) error {
	rel, ok := strings.CutPrefix(c.r.URL.Path, csaf.WellKnown)
	if !ok || strings.Contains(rel, "..") || strings.Contains(rel, "//") {
		return errNotFound("file " + quote(c.r.URL.Path))
	}
	return s.serveProviderFile(c, rel)
}

// securityTxt answers /.well-known/security.txt (RFC 9116) with the CSAF field naming the
// provider metadata.
func (s *Server) securityTxt(c *call) error {
	base := s.providerBase(c.r)
	if _, _, err := s.provider(c.r.Context(), base, false); err != nil {
		return err
	}
	host := "localhost"
	if u, err := url.Parse(base); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	contact := s.cfg.SecurityContact
	if contact == "" {
		contact = "mailto:security@" + host
	}
	expires := s.cfg.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 30)
	body := "# The CSAF security advisories of this site (CSAF 2.0 trusted provider).\n" +
		"Contact: " + contact + "\n" +
		"Expires: " + expires.Format(time.RFC3339) + "\n" +
		"CSAF: " + base + csaf.WellKnown + "provider-metadata.json\n" +
		"Canonical: " + base + "/.well-known/security.txt\n" +
		"Preferred-Languages: en\n"
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.Header().Set("Cache-Control", "public, max-age=3600")
	c.w.Write([]byte(body))
	return nil
}

// csafDNSHost answers GET / on csaf.data.security.DOMAIN with the provider metadata, the
// third way CSAF 2.0 (7.1.10) lets consumers find it.
func (s *Server) csafDNSHost(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != "/" || (r.Method != http.MethodGet && r.Method != http.MethodHead) ||
		!strings.HasPrefix(strings.ToLower(r.Host), "csaf.data.security.") {
		return false
	}
	c := &call{w: w, r: r, s: s}
	if err := s.serveProviderFile(c, "provider-metadata.json"); err != nil {
		s.fail(w, r, err)
	}
	return true
}
