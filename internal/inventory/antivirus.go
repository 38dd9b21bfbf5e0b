package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/patchday/patchday/internal/protocol"
)

// clamavDir holds ClamAV's signature databases; freshclam keeps them there on every
// distribution's package.
const clamavDir = "var/lib/clamav"

// CVDHeader is the header of a ClamAV signature database (.cvd, or .cld after incremental
// updates): 512 bytes of "ClamAV-VDB:<build time>:<version>:<signatures>:<functionality
// level>:<md5>:<signature>:<builder>:<build time in unix seconds>", padded with spaces.
type CVDHeader struct {
	Version    int
	Signatures int
	Built      time.Time // UTC; zero when the header has no readable time
}

// ParseCVDHeader parses the first 512 bytes of a signature database.
func ParseCVDHeader(r io.Reader) (CVDHeader, error) {
	var buf [512]byte
	n, err := io.ReadFull(r, buf[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return CVDHeader{}, err
	}
	head := strings.TrimRight(string(bytes.TrimRight(buf[:n], "\x00")), " \n")
	fields := strings.Split(head, ":")
	if len(fields) < 4 || fields[0] != "ClamAV-VDB" {
		return CVDHeader{}, errors.New("not a ClamAV database header")
	}
	var h CVDHeader
	if h.Version, err = strconv.Atoi(fields[2]); err != nil {
		return CVDHeader{}, fmt.Errorf("version %q: %w", fields[2], err)
	}
	h.Signatures, _ = strconv.Atoi(fields[3])
	// The unix time came later than the text one and is unambiguous; prefer it.
	if len(fields) >= 9 {
		if secs, err := strconv.ParseInt(strings.TrimSpace(fields[8]), 10, 64); err == nil && secs > 0 {
			h.Built = time.Unix(secs, 0).UTC()
		}
	}
	if h.Built.IsZero() {
		if t, err := time.Parse("02 Jan 2006 15-04 -0700", fields[1]); err == nil {
			h.Built = t.UTC()
		}
	}
	return h, nil
}

// antivirus reports ClamAV when its signature databases are present.
func (c *Collector) antivirus() []protocol.Antivirus {
	var found bool
	var newest CVDHeader
	// The daily database is the one that changes; main is a fallback for a machine without it.
	for _, set := range [][]string{{"daily.cvd", "daily.cld"}, {"main.cvd", "main.cld"}} {
		for _, name := range set {
			f, err := os.Open(c.path(filepath.Join(clamavDir, name)))
			if err != nil {
				continue
			}
			h, err := ParseCVDHeader(f)
			f.Close()
			found = true
			if err == nil && (h.Version > newest.Version || h.Version == newest.Version && h.Built.After(newest.Built)) {
				newest = h
			}
		}
		if newest.Version > 0 {
			break
		}
	}
	if !found {
		return nil
	}
	av := protocol.Antivirus{Engine: "clamav", EngineVersion: c.clamavVersion(), Running: c.clamavRunning()}
	if newest.Version > 0 {
		av.SignatureVersion = strconv.Itoa(newest.Version)
	}
	if !newest.Built.IsZero() {
		av.SignatureTime = &newest.Built
	}
	return []protocol.Antivirus{av}
}

// clamavVersion is the upstream version of the installed ClamAV package, if dpkg knows it.
func (c *Collector) clamavVersion() string {
	pkgs, err := c.packages()
	if err != nil {
		return "" // best effort: Inventory reports a broken status file
	}
	for _, want := range []string{"clamav", "clamav-base", "clamav-daemon", "clamav-freshclam"} {
		for _, p := range pkgs {
			if p.Name == want {
				return upstreamVersion(p.Version)
			}
		}
	}
	return ""
}

// clamavRunning tells whether clamd, freshclam or the on-access scanner runs.
func (c *Collector) clamavRunning() bool {
	comms, _ := filepath.Glob(c.path("proc/[0-9]*/comm"))
	for _, name := range comms {
		b, err := os.ReadFile(name)
		if err != nil {
			continue // the process ended meanwhile
		}
		switch strings.TrimSpace(string(b)) {
		case "clamd", "freshclam", "clamonacc":
			return true
		}
	}
	return false
}
