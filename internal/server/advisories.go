package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchday/patchday/internal/catalog"
	"github.com/patchday/patchday/internal/csaf"
	"github.com/patchday/patchday/internal/store"
)

// importResponse answers an advisory import.
type importResponse struct {
	Advisory  store.Advisory         `json:"advisory"`
	Revision  store.AdvisoryRevision `json:"revision"`
	New       bool                   `json:"new"`
	Unchanged bool                   `json:"unchanged"`
}

// importAdvisory stores a CSAF 2.0 document sent as the request body.
func (s *Server) importAdvisory(c *call) error {
	if mt, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type")); c.r.Header.Get("Content-Type") != "" && mt != "application/json" {
		return &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
			Message: fmt.Sprintf("Content-Type %q: a CSAF document is application/json", c.r.Header.Get("Content-Type"))}
	}
	data, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, csaf.MaxDocumentSize))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
				Message: fmt.Sprintf("the document is larger than the limit of %d bytes", tooBig.Limit)}
		}
		return err
	}
	doc, err := catalog.ValidateAdvisory(data)
	var verr *csaf.ValidationError
	switch {
	case errors.As(err, &verr):
		return csafError(verr)
	case err != nil:
		return errBadRequest("invalid_json", "", "%v", err)
	}
	ctx := c.r.Context()
	var res catalog.Imported
	importIt := func(tx *store.Tx) error {
		var err error
		if res, err = catalog.ImportAdvisory(ctx, tx, c.org.ID, doc, c.user.Username); err != nil || res.Unchanged {
			return err
		}
		return c.audit(tx, c.org.ID, "advisory.import", "advisory", res.Advisory.TrackingID,
			map[string]any{"version": res.Revision.Version, "revision": res.Revision.Revision, "sha256": res.Revision.SHA256})
	}
	err = s.store.Update(ctx, importIt)
	if errors.Is(err, store.ErrConflict) {
		// Another import of the same advisory committed first (PostgreSQL runs them side
		// by side): once more, against what it stored.
		err = s.store.Update(ctx, importIt)
	}
	switch {
	case errors.Is(err, catalog.ErrRevisionConflict):
		return &apiError{Status: http.StatusConflict, Code: "revision_conflict", Message: err.Error()}
	case errors.Is(err, store.ErrConflict):
		return &apiError{Status: http.StatusConflict, Code: "revision_conflict", Message: "another import of this advisory ran at the same time; try again"}
	case err != nil:
		return err
	}
	status := http.StatusCreated
	if res.Unchanged {
		status = http.StatusOK
	}
	writeJSON(c.w, status, importResponse{Advisory: res.Advisory, Revision: res.Revision, New: res.New, Unchanged: res.Unchanged})
	return nil
}

// csafError reports an invalid document: 422, every finding listed, the first one's path as
// the field.
func csafError(verr *csaf.ValidationError) *apiError {
	e := &apiError{Status: http.StatusUnprocessableEntity, Code: "invalid_csaf", Message: verr.Error(), Findings: verr.Findings}
	if len(verr.Findings) > 0 {
		e.Field = verr.Findings[0].Path
	}
	return e
}

// advisoryCursor is the position in the advisory list: release time and id.
func encodeAdvisoryCursor(a store.Advisory) string {
	return encodeCursorText(fmt.Sprintf("a1:%d:%d", a.CurrentRelease.UnixMicro(), a.ID))
}

func decodeAdvisoryCursor(v string) (time.Time, int64, error) {
	text, err := decodeCursorText(v)
	if err == nil {
		parts := strings.Split(text, ":")
		if len(parts) == 3 && parts[0] == "a1" {
			us, err1 := strconv.ParseInt(parts[1], 10, 64)
			id, err2 := strconv.ParseInt(parts[2], 10, 64)
			if err1 == nil && err2 == nil && id > 0 {
				return time.UnixMicro(us).UTC(), id, nil
			}
		}
	}
	return time.Time{}, 0, errInvalid("cursor", "is not a cursor this server issued")
}

var cveRE = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

func (s *Server) listAdvisories(c *call) error {
	q := c.r.URL.Query()
	f := store.AdvisoryFilter{Text: q.Get("q"), Product: q.Get("product"), Limit: defaultLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return errInvalid("limit", "must be an integer from 1 to %d", maxLimit)
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		t, id, err := decodeAdvisoryCursor(v)
		if err != nil {
			return err
		}
		f.AfterRelease, f.AfterID = t, id
	}
	if v := strings.ToUpper(q.Get("cve")); v != "" {
		if !cveRE.MatchString(v) {
			return errInvalid("cve", "must be a CVE id such as CVE-2021-44228")
		}
		f.CVE = v
	}
	for _, sv := range []struct {
		field string
		set   func(string)
	}{
		{"severity", func(v string) { f.Severity = v }},
		{"min_severity", func(v string) { f.MinSeverity, f.HasMin = csaf.SeverityRank(v), true }},
	} {
		if v := q.Get(sv.field); v != "" {
			if csaf.SeverityRank(v) < 0 && v != "unknown" {
				return errInvalid(sv.field, "must be one of %s", strings.Join(csaf.Severities, ", "))
			}
			sv.set(v)
		}
	}
	if v := q.Get("status"); v != "" {
		if v != "draft" && v != "interim" && v != "final" {
			return errInvalid("status", "must be draft, interim or final")
		}
		f.Status = v
	}
	for _, tf := range []struct {
		field string
		dst   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(tf.field); v != "" {
			t, err := parseDateOrTime(v)
			if err != nil {
				return errInvalid(tf.field, "must be a date (2026-11-10) or an RFC 3339 time")
			}
			*tf.dst = t
		}
	}
	f.PublishedOnly = !c.mayReadEmbargoed()
	want := f.Limit
	f.Limit++
	as, err := s.store.ListAdvisories(c.r.Context(), c.org.ID, f)
	if err != nil {
		return err
	}
	if f.PublishedOnly {
		for i := range as {
			if as[i], err = s.publicView(c.r.Context(), as[i]); err != nil {
				return err
			}
		}
	}
	resp := listResponse[store.Advisory]{Items: as}
	if len(as) > want {
		resp.Items = as[:want]
		resp.NextCursor = encodeAdvisoryCursor(as[want-1])
	}
	if resp.Items == nil {
		resp.Items = []store.Advisory{}
	}
	writeJSON(c.w, http.StatusOK, resp)
	return nil
}

func parseDateOrTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, v)
}

// advisoryDetail is an advisory with its revisions.
type advisoryDetail struct {
	store.Advisory
	RevisionList []store.AdvisoryRevision `json:"revision_list"`
}

func (s *Server) getAdvisory(c *call) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	a, err := s.visibleAdvisory(c, id)
	if err != nil {
		return err
	}
	revs, err := s.store.AdvisoryRevisions(c.r.Context(), a.ID)
	if err != nil {
		return err
	}
	if !c.mayReadEmbargoed() {
		revs = slices.DeleteFunc(revs, func(r store.AdvisoryRevision) bool { return r.PublishedAt == nil })
	}
	writeJSON(c.w, http.StatusOK, advisoryDetail{Advisory: a, RevisionList: revs})
	return nil
}

// exportAdvisory answers the CSAF document of one revision (?revision=N, default the newest),
// byte for byte as stored, named by the CSAF file name rule.
func (s *Server) exportAdvisory(c *call) error {
	a, rev, err := s.visibleRevision(c)
	if err != nil {
		return err
	}
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Disposition", `attachment; filename="`+csaf.Filename(a.TrackingID)+`"`)
	h.Set("ETag", `"sha256:`+rev.SHA256+`"`)
	h.Set("X-Patchday-Revision", strconv.Itoa(rev.Revision))
	http.ServeContent(c.w, c.r, "", rev.CreatedAt, strings.NewReader(string(rev.Document)))
	return nil
}

// visibleRevision finds the advisory of the path and the revision of ?revision=N (default
// the newest) that the caller may read: viewers read published revisions only, and their
// newest is the newest published one (see visibleAdvisory).
func (s *Server) visibleRevision(c *call) (store.Advisory, store.AdvisoryRevision, error) {
	id, err := pathID(c, "id")
	if err != nil {
		return store.Advisory{}, store.AdvisoryRevision{}, err
	}
	revision := 0
	if v := c.r.URL.Query().Get("revision"); v != "" {
		if revision, err = strconv.Atoi(v); err != nil || revision < 1 {
			return store.Advisory{}, store.AdvisoryRevision{}, errInvalid("revision", "must be a revision number, 1 or more")
		}
	}
	a, err := s.visibleAdvisory(c, id)
	if err != nil {
		return store.Advisory{}, store.AdvisoryRevision{}, err
	}
	if revision == 0 && !c.mayReadEmbargoed() {
		// A viewer's newest revision is the newest published one.
		if revision, err = s.latestPublishedRevision(c.r.Context(), a.ID); err != nil {
			return store.Advisory{}, store.AdvisoryRevision{}, err
		}
	}
	rev, err := s.store.AdvisoryRevision(c.r.Context(), a.ID, revision)
	if err == nil && rev.PublishedAt == nil && !c.mayReadEmbargoed() {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Advisory{}, store.AdvisoryRevision{}, storeErr(err, fmt.Sprintf("revision %d of advisory %d", revision, id))
	}
	return a, rev, nil
}

// visibleAdvisory finds an advisory the caller may see: viewers see published advisories
// only (as they were published, see publicView); admins, operators and partners see
// embargoed ones too. An advisory the caller may not see is not found.
func (s *Server) visibleAdvisory(c *call, id int64) (store.Advisory, error) {
	a, err := s.store.Advisory(c.r.Context(), c.org.ID, id)
	if err == nil && !c.mayReadEmbargoed() {
		if a.PublishedAt == nil {
			err = store.ErrNotFound
		} else {
			a, err = s.publicView(c.r.Context(), a)
		}
	}
	if err != nil {
		return store.Advisory{}, storeErr(err, "advisory "+itoa(id))
	}
	return a, nil
}

// publicView is a published advisory as its newest published revision describes it: when a
// later revision waits for its release, its title, severity and other indexed fields must
// not show before then.
func (s *Server) publicView(ctx context.Context, a store.Advisory) (store.Advisory, error) {
	if a.ScheduledRelease == nil {
		return a, nil
	}
	n, err := s.latestPublishedRevision(ctx, a.ID)
	if err != nil {
		return a, err
	}
	rev, err := s.store.AdvisoryRevision(ctx, a.ID, n)
	if err != nil {
		return a, err
	}
	doc, err := csaf.Parse(rev.Document)
	if err != nil {
		return a, err
	}
	sum := doc.Summarize()
	a.Title, a.Category, a.Publisher = sum.Title, sum.Category, sum.Publisher
	a.Severity, a.SeverityRank, a.CVSSMax = sum.Severity, csaf.SeverityRank(sum.Severity), sum.CVSSMax
	a.TLP, a.Status, a.Version, a.Revisions = sum.TLP, sum.Status, sum.Version, rev.Revision
	a.InitialRelease, a.CurrentRelease, a.CVEs = sum.InitialRelease, sum.CurrentRelease, sum.CVEs
	if a.CVEs == nil {
		a.CVEs = []string{}
	}
	a.ScheduledRelease = nil
	return a, nil
}

// latestPublishedRevision is the number of an advisory's newest published revision.
func (s *Server) latestPublishedRevision(ctx context.Context, advisoryID int64) (int, error) {
	revs, err := s.store.AdvisoryRevisions(ctx, advisoryID)
	if err != nil {
		return 0, err
	}
	for i := len(revs) - 1; i >= 0; i-- {
		if revs[i].PublishedAt != nil {
			return revs[i].Revision, nil
		}
	}
	return 0, store.ErrNotFound
}
