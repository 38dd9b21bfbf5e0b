package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// apiToken is a token as the API shows it; token is the secret, in a new token only.
type apiToken struct {
	ID         int64      `json:"id"`
	UserID     int64      `json:"user_id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	Secret     string     `json:"token"`
	// PasswordChangeRequired: a login whose password someone else set.
	PasswordChangeRequired bool `json:"password_change_required"`
}

// apiUser is a user, or a member of an organisation (with OrgID and Role), as the API shows it.
type apiUser struct {
	ID          int64     `json:"id"`
	Username    string    `json:"username"`
	DisplayName string    `json:"display_name"`
	Email       string    `json:"email"`
	SiteAdmin   bool      `json:"site_admin"`
	Disabled    bool      `json:"disabled"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	OrgID       int64     `json:"org_id"`
	Role        string    `json:"role"`
}

func newLoginCmd() *cobra.Command {
	var server, user, tokenName string
	cmd := &cobra.Command{
		Use:   "login --server URL --user NAME",
		Short: "Log in to a patchday server and save the token for the other commands",
		Long: `Log in to a patchday server with a username and password. The server returns an API
token, which is saved with the server's URL in cli.json (mode 0600) in $` + envConfigDir + `,
else in patchday's directory of your configuration directory (~/.config/patchday on Linux).

The password is taken from $` + envPassword + ` when set; otherwise it is asked for without
echo when standard input is a terminal, or else read as one line from standard input.

--server defaults to $` + envServer + `, else the server of the saved login; --user defaults
to the user of the saved login.`,
		Example: `  patchday login --server https://patchday.example.org --user admin
  echo "$PASSWORD" | patchday login --server https://patchday.example.org --user ci --token-name ci-runner`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			saved, path, err := loadConfig()
			if err != nil {
				return err
			}
			if server == "" {
				server = env(envServer)
			}
			if server == "" {
				server = saved.Server
			}
			if server == "" {
				return usageError{errors.New("--server is required (or set " + envServer + ")")}
			}
			if server, err = checkServerURL(server); err != nil {
				return err
			}
			if user == "" && server == saved.Server {
				user = saved.User
			}
			if err := requireFlag("user", user); err != nil {
				return err
			}
			if tokenName == "" {
				tokenName = defaultTokenName()
			}
			if insecureURL(server) {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s is plain HTTP: the password and the token cross the network unencrypted\n", server)
			}
			pw, err := readPassword(cmd, fmt.Sprintf("Password for %s at %s: ", user, server))
			if err != nil {
				return err
			}
			c := newClient(server, "")
			var t apiToken
			err = c.do(cmd.Context(), http.MethodPost, "/api/v1/auth/login", nil,
				map[string]string{"username": user, "password": pw, "token_name": tokenName}, &t)
			if err != nil {
				return err
			}
			if t.Secret == "" {
				return fmt.Errorf("the server at %s answered the login without a token", server)
			}
			cfg := loginConfig{Server: server, User: user, Token: t.Secret, TokenID: t.ID, ExpiresAt: t.ExpiresAt}
			if err := saveConfig(path, cfg); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Logged in to %s as %s (token expires %s)\n", server, user, timeCell(t.ExpiresAt))
			if t.PasswordChangeRequired {
				fmt.Fprintln(cmd.OutOrStdout(), "Your password was set by someone else: choose your own now with \"patchday passwd\"; until then nothing else works.")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "the server's URL, such as https://patchday.example.org")
	f.StringVar(&user, "user", "", "your username")
	f.StringVar(&tokenName, "token-name", "", `name of the token the login makes, shown in "patchday token list" (default "patchday-cli@HOSTNAME")`)
	return cmd
}

func defaultTokenName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "patchday-cli"
	}
	name := cleanCell("patchday-cli@" + h)
	if len(name) > 100 {
		name = name[:100]
	}
	return name
}

// insecureURL reports whether a server URL is plain HTTP to another machine.
func insecureURL(server string) bool {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "http" {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// readPassword gets the login password: from PATCHDAY_PASSWORD, else from a prompt without
// echo when standard input is a terminal, else as one line of standard input.
func readPassword(cmd *cobra.Command, prompt string) (string, error) {
	if pw := env(envPassword); pw != "" {
		return pw, nil
	}
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(cmd.ErrOrStderr(), prompt)
		b, err := readPasswordNoEcho(f)
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		if len(b) == 0 {
			return "", errors.New("no password given")
		}
		return string(b), nil
	}
	pw, err := readLine(in)
	if err != nil {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	if pw == "" {
		return "", usageError{errors.New("no password: standard input is not a terminal and was empty; " +
			"pipe the password in or set " + envPassword)}
	}
	return pw, nil
}

// readLine reads one line, without its line ending. It reads byte by byte so that it takes
// no more of r than that line, for the next readLine to find.
func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	var c [1]byte
	for {
		n, err := r.Read(c[:])
		if n == 1 {
			if c[0] == '\n' {
				break
			}
			b.WriteByte(c[0])
			if b.Len() > 4096 {
				return "", errors.New("line too long")
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return strings.TrimSuffix(b.String(), "\r"), nil
}

func newLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the saved login's token and forget it",
		Long: `Revoke the token of the saved login on the server and remove it from cli.json. The
server's URL and your username stay, for the next "patchday login".

With ` + envToken + ` set, that token is revoked instead, and the saved login is kept unless it
holds the same token.`,
		Example: `  patchday logout`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			revokeErr := c.do(cmd.Context(), http.MethodPost, "/api/v1/auth/logout", nil, nil, nil)
			var ae *apiError
			if revokeErr != nil && !(errors.As(revokeErr, &ae) && ae.Status == http.StatusUnauthorized) {
				return revokeErr // the token may still be valid: keep it, so that logout can be retried
			}
			cfg, path, err := loadConfig()
			if err != nil {
				return err
			}
			if cfg.Token != "" && cfg.Token == c.token {
				cfg.Token, cfg.TokenID, cfg.ExpiresAt = "", 0, time.Time{}
				if err := saveConfig(path, cfg); err != nil {
					return err
				}
			}
			if revokeErr != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "Logged out of %s (the server no longer accepted the token: %s)\n", c.server, ae.Message)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Logged out of %s (token revoked)\n", c.server)
			return nil
		},
	}
}

// whoami is GET /api/v1/me.
type whoami struct {
	apiUser
	TokenID     int64        `json:"token_id"`
	Memberships []membership `json:"memberships"`
}

// membership is a user's role in one organisation.
type membership struct {
	OrgID int64  `json:"org_id"`
	Org   string `json:"org"`
	Role  string `json:"role"`
}

func newWhoamiCmd() *cobra.Command {
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show who you are logged in as: user, site admin or not, organisations and roles",
		Example: `  patchday whoami
  patchday whoami -o json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/me", nil, nil, &raw); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == outputJSON {
				return printJSON(w, raw)
			}
			var me whoami
			if err := decodeItem(raw, &me); err != nil {
				return err
			}
			err = keyValues(w,
				"server", c.server,
				"user", me.Username,
				"display name", me.DisplayName,
				"email", me.Email,
				"site admin", yesNo(me.SiteAdmin),
				"token id", fmt.Sprint(me.TokenID),
			)
			if err != nil {
				return err
			}
			if len(me.Memberships) == 0 {
				fmt.Fprintln(w, "\nNo organisation memberships.")
				return nil
			}
			fmt.Fprintln(w)
			t := newTable(w, "org", "role")
			for _, m := range me.Memberships {
				t.row(m.Org, m.Role)
			}
			return t.flush()
		},
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func newPasswdCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "passwd",
		Short: "Change your password",
		Long: `Change the password of the logged-in user. On a terminal it asks for the current password
and the new one (twice), without echo; otherwise it reads two lines from standard input: the
current password, then the new one. The new password needs at least 12 characters.`,
		Example: `  patchday passwd
  printf '%s\n%s\n' "$OLD" "$NEW" | patchday passwd`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			cur, next, err := readPasswordChange(cmd)
			if err != nil {
				return err
			}
			err = c.do(cmd.Context(), http.MethodPost, "/api/v1/me/password", nil,
				map[string]string{"current_password": cur, "new_password": next}, nil)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Password changed.")
			return nil
		},
	}
	return cmd
}

// readPasswordChange reads the current and the new password.
func readPasswordChange(cmd *cobra.Command) (cur, next string, err error) {
	in := cmd.InOrStdin()
	stderr := cmd.ErrOrStderr()
	if f, ok := in.(*os.File); ok && isTerminal(f) {
		ask := func(prompt string) (string, error) {
			fmt.Fprint(stderr, prompt)
			b, err := readPasswordNoEcho(f)
			fmt.Fprintln(stderr)
			return string(b), err
		}
		if cur, err = ask("Current password: "); err != nil {
			return "", "", err
		}
		if next, err = ask("New password: "); err != nil {
			return "", "", err
		}
		again, err := ask("New password again: ")
		if err != nil {
			return "", "", err
		}
		if again != next {
			return "", "", usageError{errors.New("the new passwords differ; nothing changed")}
		}
		return cur, next, nil
	}
	r := bufio.NewReader(in)
	if cur, err = readLine(r); err == nil {
		next, err = readLine(r)
	}
	if err != nil {
		return "", "", fmt.Errorf("reading the passwords from standard input: %w", err)
	}
	if cur == "" || next == "" {
		return "", "", usageError{errors.New("standard input must hold two lines: the current password, then the new one")}
	}
	return cur, next, nil
}
