package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// apiAuditEvent is an audit event as the API shows it.
type apiAuditEvent struct {
	ID         int64           `json:"id"`
	Time       time.Time       `json:"time"`
	OrgID      *int64          `json:"org_id"`
	Org        string          `json:"org"`
	ActorID    *int64          `json:"actor_id"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	ObjectType string          `json:"object_type"`
	ObjectID   string          `json:"object_id"`
	Source     string          `json:"source"`
	RequestID  string          `json:"request_id"`
	Details    json.RawMessage `json:"details"`
}

var auditHeaders = []string{"time", "actor", "action", "object", "org", "source"}

func auditRow(e apiAuditEvent) []string {
	org := e.Org
	if org == "" && e.OrgID != nil {
		org = strconv.FormatInt(*e.OrgID, 10) // an organisation that no longer exists
	}
	obj := e.ObjectType
	if e.ObjectID != "" {
		obj += "/" + e.ObjectID
	}
	return []string{timeCell(e.Time), e.Actor, e.Action, obj, org, e.Source}
}

func newAuditCmd() *cobra.Command {
	cmd := groupCmd("audit", "Read the audit log", `  patchday audit list --org acme --since 24h`)
	cmd.AddCommand(newAuditListCmd())
	return cmd
}

func newAuditListCmd() *cobra.Command {
	var org, actor, action, objectType, objectID, since, until string
	var lf listFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List audit events, newest first",
		Long: `List audit events, newest first: who did what to which object, when, from where.
Site admins see every event; other users see the events of the organisations they
administer and their own actions.

--since and --until take an RFC 3339 time (2026-11-10T10:00:00Z) or a duration back from
now (90m, 24h, 7d). --action takes an exact action (user.create) or a prefix ending in a
dot (user.). --limit is the number shown in all (default 100, 0 for all); the command pages
through the API. -o json prints the events whole, with their details.`,
		Example: `  patchday audit list
  patchday audit list --org acme --action user. --since 7d
  patchday audit list --actor alice --since 2026-11-01T00:00:00Z --limit 0 -o json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := lf.check(); err != nil {
				return err
			}
			q := url.Values{}
			for _, p := range []struct{ key, val string }{
				{"org", org}, {"actor", actor}, {"action", action}, {"object_type", objectType}, {"object_id", objectID},
			} {
				if p.val != "" {
					q.Set(p.key, p.val)
				}
			}
			now := time.Now()
			for _, p := range []struct{ flag, val string }{{"since", since}, {"until", until}} {
				if p.val == "" {
					continue
				}
				t, err := parseWhen(p.val, now)
				if err != nil {
					return usageError{fmt.Errorf("--%s %q: %w", p.flag, p.val, err)}
				}
				q.Set(p.flag, t.UTC().Format(time.RFC3339Nano))
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			items, more, err := c.list(cmd.Context(), "/api/v1/audit", q, lf.limit)
			if err != nil {
				return err
			}
			return printList(cmd, lf, items, more, auditHeaders, auditRow)
		},
	}
	f := cmd.Flags()
	f.StringVar(&org, "org", "", "only this organisation's events (its slug)")
	f.StringVar(&actor, "actor", "", "only events by this user")
	f.StringVar(&action, "action", "", "only this action (user.create), or actions with this prefix (user.)")
	f.StringVar(&objectType, "object-type", "", "only events on objects of this type (org, user, token, ...)")
	f.StringVar(&objectID, "object-id", "", "only events on the object with this ID")
	f.StringVar(&since, "since", "", "only events at or after this time: RFC 3339, or a duration back from now (24h, 7d)")
	f.StringVar(&until, "until", "", "only events before this time: RFC 3339, or a duration back from now")
	addListFlags(cmd, &lf)
	return cmd
}

// parseWhen reads an RFC 3339 time, or a duration (90m, 24h, 7d) back from now.
func parseWhen(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(v, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("must be an RFC 3339 time such as 2026-11-10T10:00:00Z or a duration such as 24h or 7d")
	}
	return now.Add(-d), nil
}
