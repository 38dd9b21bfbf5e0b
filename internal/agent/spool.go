package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/patchday/patchday/internal/protocol"
)

// spool keeps install results until the server acknowledges them, one file per result, so
// that results survive a restart and an offline machine reports everything when it is back.
type spool struct{ dir string }

func (s spool) path(id string) string { return filepath.Join(s.dir, id+".json") }

// add stores a result durably.
func (s spool) add(r protocol.Result) error {
	if err := writeJSONFile(s.path(r.ID), r, 0o600); err != nil {
		return fmt.Errorf("spool result %s: %w", r.ID, err)
	}
	return nil
}

// list returns the spooled results, oldest first, at most max.
func (s spool) list(max int) ([]protocol.Result, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	var out []protocol.Result
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		var r protocol.Result
		if _, err := readJSONFile(filepath.Join(s.dir, name), &r); err != nil {
			return nil, fmt.Errorf("read spool: %w", err)
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b protocol.Result) int { return a.FinishedAt.Compare(b.FinishedAt) })
	if len(out) > max {
		out = out[:max]
	}
	return out, nil
}

// resultID is the shape of the ids the agent makes (newID): nothing else names a spool file.
var resultID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// has says whether a result is spooled.
func (s spool) has(id string) bool {
	if !resultID.MatchString(id) {
		return false
	}
	_, err := os.Stat(s.path(id))
	return err == nil
}

// drop removes acknowledged results.
func (s spool) drop(ids []string) error {
	for _, id := range ids {
		if !resultID.MatchString(id) {
			continue
		}
		if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("drop spooled result %s: %w", id, err)
		}
	}
	return nil
}
