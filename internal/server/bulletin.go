package server

import (
	"net/http"
	"strconv"

	"github.com/patchday/patchday/internal/csaf"
)

// bulletinResponse is the readable content of one revision of an advisory.
type bulletinResponse struct {
	AdvisoryID int64 `json:"advisory_id"`
	Revision   int   `json:"revision"`
	csaf.Bulletin
}

// advisoryBulletin answers the bulletin of one revision (?revision=N, default the newest the
// caller may read, as the CSAF export): the notes, mitigating factors, FAQ, references and
// per vulnerability its scores, threats, remediations and product status, with product
// names (csaf.Document.Bulletin).
func (s *Server) advisoryBulletin(c *call) error {
	a, rev, err := s.visibleRevision(c)
	if err != nil {
		return err
	}
	doc, err := csaf.Parse(rev.Document)
	if err != nil {
		return err
	}
	c.w.Header().Set("X-Patchday-Revision", strconv.Itoa(rev.Revision))
	writeJSON(c.w, http.StatusOK, bulletinResponse{AdvisoryID: a.ID, Revision: rev.Revision, Bulletin: doc.Bulletin()})
	return nil
}
