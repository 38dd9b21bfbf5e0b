package agent

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/patchday/patchday/internal/protocol"
)

// DefaultStateDir holds an agent's identity, spool and downloads.
const DefaultStateDir = "/var/lib/patchday-agent"

// identity is what enrollment gives an agent. It lives in identity.json, mode 0600: the
// credential in it is the agent's secret.
type identity struct {
	Server     string    `json:"server"`
	Org        string    `json:"org"`
	ComputerID int64     `json:"computer_id"`
	Credential string    `json:"credential"`
	SigningKey string    `json:"signing_key"` // the pinned server key, base64
	CAFile     string    `json:"ca_file,omitempty"`
	EnrolledAt time.Time `json:"enrolled_at"`
}

func (id identity) key() (ed25519.PublicKey, error) { return protocol.DecodeKey(id.SigningKey) }

// progress is what the agent has accepted and done; it changes at every check-in.
type progress struct {
	// Sequence and Digest identify the last assignment list accepted.
	Sequence uint64 `json:"sequence"`
	Digest   string `json:"digest"`
	// Assignments is that list.
	Assignments []protocol.Assignment `json:"assignments"`
	// LastCheckIn is the time of the last check-in the server answered.
	LastCheckIn *time.Time `json:"last_checkin,omitempty"`
	// NextCheckIn is when the server asked to hear from the agent again.
	NextCheckIn *time.Time `json:"next_checkin,omitempty"`
	// LastError is why the last check-in or list was refused, for `status`.
	LastError string `json:"last_error,omitempty"`
	// Attempts counts failed installs per update, for the retry backoff.
	Attempts map[int64]attempt `json:"attempts,omitempty"`
	// ScanIssued is when the last scan task list accepted was made; ScanTasks are its
	// tasks, and Scans when each (schedule/subnet) last ran.
	ScanIssued *time.Time           `json:"scan_issued,omitempty"`
	ScanTasks  []protocol.ScanTask  `json:"scan_tasks,omitempty"`
	Scans      map[string]time.Time `json:"scans,omitempty"`
}

type attempt struct {
	Failures int       `json:"failures"`
	Last     time.Time `json:"last"`
	Error    string    `json:"error,omitempty"`
}

// inflight marks an install under way; an agent that finds it at start was stopped in the
// middle of an install and reports the true state from the package database.
type inflight struct {
	ResultID   string              `json:"result_id"`
	Sequence   uint64              `json:"sequence"`
	Assignment protocol.Assignment `json:"assignment"`
	StartedAt  time.Time           `json:"started_at"`
}

// writeJSONFile replaces path atomically: a temporary file in the same directory, synced,
// renamed over the old one, and the directory synced. A crash leaves the old or the new file,
// never a torn one.
func writeJSONFile(path string, v any, mode os.FileMode) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(mode); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// readJSONFile reads path into v; ok is false when the file does not exist.
func readJSONFile(path string, v any) (ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	// Windows cannot sync a directory; its rename is durable on its own.
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return err
	}
	return nil
}
