// Package agent is the endpoint agent's runtime: enrollment, the check-in loop, verification
// of signed assignment lists, installs through internal/agent/installer, and the result spool
// that carries results across restarts and network outages.
package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/patchday/patchday/internal/agent/installer"
	"github.com/patchday/patchday/internal/inventory"
	"github.com/patchday/patchday/internal/protocol"
)

// Config configures an agent.
type Config struct {
	StateDir string
	Version  string
	Logger   *slog.Logger
	// Collector reads the machine's facts; nil reads the running system.
	Collector *inventory.Collector
	// Dpkg is the package database installs go to; the zero value is the running system.
	Dpkg installer.Dpkg
	// AptOptions are extra "-o" settings for apt-get (a sandbox in tests).
	AptOptions []string
	// HTTPClient overrides the client built from the enrollment (tests).
	HTTPClient *http.Client
	// Now is the clock.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Collector == nil {
		c.Collector = &inventory.Collector{}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Version == "" {
		c.Version = "dev"
	}
}

// ErrNotEnrolled is returned by Open when the state directory holds no enrollment.
var ErrNotEnrolled = errors.New("this machine is not enrolled; run patchday-agent enroll")

// Agent is an enrolled agent.
type Agent struct {
	cfg    Config
	id     identity
	key    []byte // pinned server key (ed25519.PublicKey)
	prog   progress
	spool  spool
	client *http.Client
	log    *slog.Logger
}

func (c Config) identityPath() string { return filepath.Join(c.StateDir, "identity.json") }
func (c Config) progressPath() string { return filepath.Join(c.StateDir, "progress.json") }
func (c Config) inflightPath() string { return filepath.Join(c.StateDir, "inflight.json") }

// Enroll registers this machine with a server and saves the identity it gets. caFile, when
// set, is the PEM file of the CA that signed the server's certificate.
func Enroll(ctx context.Context, cfg Config, server, token, caFile string) (*Agent, error) {
	cfg.defaults()
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: must be an http(s):// URL", server)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	client := cfg.HTTPClient
	if client == nil {
		if client, err = newHTTPClient(caFile); err != nil {
			return nil, err
		}
	}
	inv, err := cfg.Collector.Inventory(ctx)
	if err != nil {
		return nil, fmt.Errorf("collect inventory: %w", err)
	}
	health, err := cfg.Collector.Health(ctx)
	if err != nil {
		return nil, fmt.Errorf("collect health: %w", err)
	}
	var resp protocol.EnrollResponse
	req := protocol.EnrollRequest{Token: token, AgentVersion: cfg.Version, Inventory: inv, Health: health}
	// Enrolled before, with the same server: prove it, to stay the same computer.
	var old identity
	if ok, _ := readJSONFile(cfg.identityPath(), &old); ok && old.Server == strings.TrimRight(server, "/") {
		req.PreviousCredential = old.Credential
	}
	if err := post(ctx, client, strings.TrimRight(server, "/")+protocol.PathEnroll, "", cfg.Version, req, &resp); err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	if _, err := protocol.DecodeKey(resp.SigningKey); err != nil {
		return nil, fmt.Errorf("enroll: the server's signing key: %w", err)
	}
	id := identity{Server: strings.TrimRight(server, "/"), Org: resp.Org, ComputerID: resp.ComputerID,
		Credential: resp.Credential, SigningKey: resp.SigningKey, EnrolledAt: cfg.Now().UTC()}
	if caFile != "" {
		if id.CAFile, err = filepath.Abs(caFile); err != nil {
			return nil, err
		}
	}
	if err := writeJSONFile(cfg.identityPath(), id, 0o600); err != nil {
		return nil, fmt.Errorf("save identity: %w", err)
	}
	// A new enrollment accepts only lists newer than the last one issued to the computer.
	if err := writeJSONFile(cfg.progressPath(), progress{Sequence: resp.Sequence}, 0o600); err != nil {
		return nil, fmt.Errorf("save progress: %w", err)
	}
	return Open(cfg)
}

// Open loads the agent enrolled in cfg.StateDir.
func Open(cfg Config) (*Agent, error) {
	cfg.defaults()
	a := &Agent{cfg: cfg, log: cfg.Logger, spool: spool{dir: filepath.Join(cfg.StateDir, "spool")}}
	ok, err := readJSONFile(cfg.identityPath(), &a.id)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	} else if !ok {
		return nil, ErrNotEnrolled
	}
	if a.key, err = a.id.key(); err != nil {
		return nil, fmt.Errorf("identity: pinned key: %w", err)
	}
	if _, err := readJSONFile(cfg.progressPath(), &a.prog); err != nil {
		return nil, fmt.Errorf("progress: %w", err)
	}
	if a.prog.Attempts == nil {
		a.prog.Attempts = map[int64]attempt{}
	}
	for _, d := range []string{a.spool.dir, a.downloadDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	a.client = cfg.HTTPClient
	if a.client == nil {
		if a.client, err = newHTTPClient(a.id.CAFile); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *Agent) downloadDir() string { return filepath.Join(a.cfg.StateDir, "downloads") }

func (a *Agent) saveProgress() error {
	if err := writeJSONFile(a.cfg.progressPath(), a.prog, 0o600); err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	return nil
}

func newHTTPClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificates", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	tr.ResponseHeaderTimeout = time.Minute
	// No overall timeout: payload downloads may be long; requests carry contexts instead.
	return &http.Client{Transport: tr}, nil
}

// ServerError is an error answer of the server.
type ServerError struct {
	Status  int
	Code    string
	Field   string
	Message string
}

func (e *ServerError) Error() string {
	s := fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Message)
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	return s
}

// post sends v as JSON and decodes the answer into out.
func post(ctx context.Context, client *http.Client, u, credential, version string, v, out any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "patchday-agent/"+version)
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, protocol.MaxBody))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message, Field string }
		}
		if json.Unmarshal(b, &e) != nil || e.Error.Code == "" {
			return &ServerError{Status: resp.StatusCode, Code: "http_error", Message: strings.TrimSpace(string(b))}
		}
		return &ServerError{Status: resp.StatusCode, Code: e.Error.Code, Field: e.Error.Field, Message: e.Error.Message}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("server answer: %w", err)
	}
	return nil
}

// newID makes a result id: 128 random bits, hex.
func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// jitter returns d plus or minus up to a tenth of it, so that agents started together drift
// apart.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	n, err := rand.Int(rand.Reader, big.NewInt(int64(d/5)+1))
	if err != nil {
		return d
	}
	return d - d/10 + time.Duration(n.Int64())
}
