package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Environment variables of the admin commands.
const (
	envConfigDir = "PATCHDAY_CONFIG_DIR" // directory of cli.json
	envServer    = "PATCHDAY_SERVER"     // overrides the saved server URL
	envToken     = "PATCHDAY_TOKEN"      // overrides the saved token
	envOrg       = "PATCHDAY_ORG"        // default --org of the user commands
	envPassword  = "PATCHDAY_PASSWORD"   // password for patchday login
)

// loginConfig is the command line's saved login, cli.json.
type loginConfig struct {
	Server    string    `json:"server"`
	User      string    `json:"user,omitempty"`
	Token     string    `json:"token,omitempty"`
	TokenID   int64     `json:"token_id,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// configPath is $PATCHDAY_CONFIG_DIR/cli.json, else cli.json in patchday's directory of the
// user's configuration directory (~/.config/patchday on Linux).
func configPath() (string, error) {
	if dir := env(envConfigDir); dir != "" {
		return filepath.Join(dir, "cli.json"), nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("cannot find a directory for the saved login (set %s): %w", envConfigDir, err)
	}
	return filepath.Join(dir, "patchday", "cli.json"), nil
}

// loadConfig reads the saved login; a missing file is an empty login.
func loadConfig() (loginConfig, string, error) {
	var cfg loginConfig
	path, err := configPath()
	if err != nil {
		return cfg, "", err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, path, nil
	}
	if err != nil {
		return cfg, path, fmt.Errorf("saved login: %w", err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, path, fmt.Errorf("saved login %s is damaged (%v): run \"patchday login\" again", path, err)
	}
	return cfg, path, nil
}

// saveConfig writes the saved login readable by its owner only: the file 0600 in a directory
// 0700. It replaces the file atomically, so that a crash leaves the old login or the new one.
func saveConfig(path string, cfg loginConfig) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("saving the login: %w", err)
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".cli-*.json")
	if err != nil {
		return fmt.Errorf("saving the login: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("saving the login: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("saving the login: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("saving the login: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("saving the login: %w", err)
	}
	return nil
}

// errNotLoggedIn is the error of a command that needs a login when there is none.
var errNotLoggedIn = errors.New(`not logged in: run "patchday login --server URL --user NAME" first ` +
	"(or set " + envServer + " and " + envToken + ")")

// loggedInClient returns a client for the saved login, with PATCHDAY_SERVER and
// PATCHDAY_TOKEN overriding the file's server and token.
func loggedInClient() (*client, error) {
	cfg, _, err := loadConfig()
	if err != nil {
		return nil, err
	}
	server, token, from := cfg.Server, cfg.Token, "saved login"
	if v := env(envServer); v != "" {
		if server, err = checkServerURL(v); err != nil {
			return nil, usageError{fmt.Errorf("%s: %w", envServer, err)}
		}
		if server != cfg.Server {
			// The saved token belongs to another server: never send it elsewhere.
			token = ""
		}
	}
	if v := env(envToken); v != "" {
		token, from = v, envToken
	}
	if server != "" && token == "" && cfg.Token != "" && server != cfg.Server {
		return nil, fmt.Errorf("not logged in to %s (%s): the saved login is for %s, and its token is never sent elsewhere; "+
			"run \"patchday login --server %s --user NAME\" or set %s", server, envServer, cfg.Server, server, envToken)
	}
	if server == "" || token == "" {
		return nil, errNotLoggedIn
	}
	c := newClient(server, token)
	c.tokenFrom = from
	return c, nil
}

// checkServerURL checks that a server URL is an absolute http or https URL and returns it
// without a trailing slash.
func checkServerURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", usageError{fmt.Errorf("server URL %q: must be like https://patchday.example.org", s)}
	}
	u.Path = trimSlash(u.Path)
	u.RawPath = ""
	return u.String(), nil
}

func trimSlash(p string) string {
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}
