package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

type apiSubscription struct {
	ID             int64      `json:"id"`
	Kind           string     `json:"kind"`
	Address        string     `json:"address"`
	ProductNames   []string   `json:"product_names"`
	MinSeverity    string     `json:"min_severity"`
	EventTypes     []string   `json:"event_types"`
	Digest         string     `json:"digest"`
	ConfirmedAt    *time.Time `json:"confirmed_at"`
	DisabledAt     *time.Time `json:"disabled_at"`
	DisabledReason string     `json:"disabled_reason"`
	CreatedBy      string     `json:"created_by"`
	CreatedAt      time.Time  `json:"created_at"`
	Secret         string     `json:"secret"`
	Retrying       int        `json:"retrying"`
	LastError      string     `json:"last_error"`
}

func (s apiSubscription) state() string {
	switch {
	case s.DisabledAt != nil:
		return "disabled: " + s.DisabledReason
	case s.ConfirmedAt == nil:
		return "awaiting confirmation"
	case s.Retrying > 0:
		return fmt.Sprintf("failing: %d to retry, last error: %s", s.Retrying, s.LastError)
	}
	return "active"
}

func (s apiSubscription) filters() string {
	var f []string
	if s.MinSeverity != "" {
		f = append(f, "severity>="+s.MinSeverity)
	}
	if len(s.ProductNames) > 0 {
		f = append(f, "products="+strings.Join(s.ProductNames, ","))
	}
	if len(s.EventTypes) > 0 {
		f = append(f, "events="+strings.Join(s.EventTypes, ","))
	}
	if len(f) == 0 {
		return "everything"
	}
	return strings.Join(f, " ")
}

func subscriptionPath(org string, id string) string {
	p := "/api/v1/orgs/" + url.PathEscape(org) + "/subscriptions"
	if id != "" {
		p += "/" + url.PathEscape(id)
	}
	return p
}

func newSubscriptionCmd() *cobra.Command {
	cmd := groupCmd("subscription", "Who hears of what: e-mail and webhook subscriptions", `  patchday subscription create --org acme --email secops@example.org --min-severity high
  patchday subscription create --org acme --webhook https://hooks.example.org/patchday --event advisory.published --event rollout.halted
  patchday subscription list --org acme
  patchday dead-letter list --org acme`)
	cmd.Long = `Subscriptions send an organisation's events (advance notification of a release, advisory
published or revised, rollout halted, deadline passed, compliance below its threshold, new open
ports and policy violations from scans) by e-mail or to a webhook, filtered by products,
minimum severity and event types. An e-mail subscription starts only when its owner follows the
link in the confirmation mail; every mail carries a one-click unsubscribe link. A webhook's body
is signed with HMAC-SHA256 and a timestamp: its secret is printed once, at creation. Anyone can
also sign up by e-mail without an account (POST /api/v1/signup) to the organisation whose
advisories the server publishes (serve --csaf-provider-org), for its advisories and advance
notifications only. See docs/notifications.md.`
	cmd.AddCommand(newSubscriptionCreateCmd(), newSubscriptionListCmd(), newSubscriptionShowCmd(), newSubscriptionUpdateCmd(),
		newSubscriptionEnableCmd(), newSubscriptionDeleteCmd())
	return cmd
}

// subscriptionFlags are the filters of create and update.
type subscriptionFlags struct {
	products, events []string
	minSeverity      string
	digest           string
}

func (f *subscriptionFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.products, "product", nil, "only events about this product (a name; repeatable)")
	fl.StringVar(&f.minSeverity, "min-severity", "", "only events of this severity or higher: critical, high, medium, low, none")
	fl.StringSliceVar(&f.events, "event", nil, "only these event types (repeatable; default all)")
	fl.StringVar(&f.digest, "digest", "", "e-mail only: daily collects a day's events into one mail (default none)")
}

func (f *subscriptionFlags) put(req map[string]any) {
	if len(f.products) > 0 {
		req["product_names"] = f.products
	}
	if f.minSeverity != "" {
		req["min_severity"] = f.minSeverity
	}
	if len(f.events) > 0 {
		req["event_types"] = f.events
	}
	if f.digest != "" {
		req["digest"] = f.digest
	}
}

func newSubscriptionCreateCmd() *cobra.Command {
	var of orgFlag
	var f subscriptionFlags
	var email, webhook string
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "create (--email ADDRESS | --webhook URL) [--product NAME] [--min-severity S] [--event TYPE] [--digest daily]",
		Short: "Subscribe an e-mail address or a webhook (admins)",
		Example: `  patchday subscription create --org acme --email secops@example.org --min-severity high --digest daily
  patchday subscription create --org acme --webhook https://hooks.example.org/patchday`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			req := map[string]any{}
			switch {
			case (email == "") == (webhook == ""):
				return usageError{fmt.Errorf("give --email or --webhook (one of them)")}
			case email != "":
				req["kind"], req["address"] = "email", email
			default:
				req["kind"], req["address"] = "webhook", webhook
			}
			f.put(req)
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodPost, subscriptionPath(org, ""), nil, req, &raw); err != nil {
				return err
			}
			if output == outputJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var s apiSubscription
			if err := decodeItem(raw, &s); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if s.Kind == "webhook" {
				fmt.Fprintf(w, "Created webhook subscription %d to %s for %s\n", s.ID, s.Address, s.filters())
				fmt.Fprintf(w, "Signing secret (shown only now; give it to the receiver): %s\n", s.Secret)
				return nil
			}
			fmt.Fprintf(w, "Created e-mail subscription %d for %s (%s): a confirmation mail to the address is queued; it starts when its owner follows the link\n", s.ID, s.Address, s.filters())
			return nil
		},
	}
	of.add(cmd)
	cmd.Flags().StringVar(&email, "email", "", "an e-mail address (its owner confirms it)")
	cmd.Flags().StringVar(&webhook, "webhook", "", "a webhook URL (https; http only to a loopback address)")
	f.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func newSubscriptionUpdateCmd() *cobra.Command {
	var of orgFlag
	var f subscriptionFlags
	cmd := &cobra.Command{
		Use:   "update ID [--product NAME] [--min-severity S] [--event TYPE] [--digest none|daily]",
		Short: "Change a subscription's filters (admins); what is not given stays as it is",
		Long: `Change a subscription's filters and digest option. A flag given replaces that filter (several
--product or --event flags make its new list); a flag not given leaves it as it is; an empty
value (--product "", --event "", --min-severity "") removes the filter, so it matches
everything. The address cannot change: make a new subscription.`,
		Example: `  patchday subscription update --org acme 3 --min-severity critical
  patchday subscription update --org acme 3 --event ""    # all event types again`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := of.get()
			if err != nil {
				return err
			}
			// Only the flags given, empty ones too: the API keeps what it is not sent.
			req := map[string]any{}
			fl := cmd.Flags()
			if fl.Changed("product") {
				req["product_names"] = f.products
			}
			if fl.Changed("min-severity") {
				req["min_severity"] = f.minSeverity
			}
			if fl.Changed("event") {
				req["event_types"] = f.events
			}
			if fl.Changed("digest") {
				req["digest"] = f.digest
			}
			if len(req) == 0 {
				return usageError{fmt.Errorf("nothing to change: give --product, --min-severity, --event or --digest")}
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			var s apiSubscription
			if err := c.do(cmd.Context(), http.MethodPatch, subscriptionPath(org, args[0]), nil, req, &s); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Updated subscription %d: %s\n", s.ID, s.filters())
			return nil
		},
	}
	of.add(cmd)
	f.add(cmd)
	return cmd
}

func newSubscriptionListCmd() *cobra.Command {
	var of orgFlag
	var lf listFlags
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the subscriptions",
		Example: `  patchday subscription list --org acme`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return listInOrg(cmd, &of, lf, "subscriptions", nil, []string{"id", "kind", "address", "filters", "digest", "state"},
				func(s apiSubscription) []string {
					return []string{fmt.Sprint(s.ID), s.Kind, s.Address, s.filters(), s.Digest, s.state()}
				})
		},
	}
	of.add(cmd)
	addListFlags(cmd, &lf)
	return cmd
}

func newSubscriptionShowCmd() *cobra.Command {
	var of orgFlag
	var output outputFormat
	cmd := &cobra.Command{
		Use:     "show ID",
		Short:   "Show a subscription",
		Example: `  patchday subscription show --org acme 3`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, subscriptionPath(org, args[0]), nil, nil, &raw); err != nil {
				return err
			}
			if output == outputJSON {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			var s apiSubscription
			if err := decodeItem(raw, &s); err != nil {
				return err
			}
			return keyValues(cmd.OutOrStdout(), "id", fmt.Sprint(s.ID), "kind", s.Kind, "address", s.Address, "filters", s.filters(),
				"digest", s.Digest, "state", s.state(), "created", s.CreatedAt.Local().Format(time.DateTime)+" by "+s.CreatedBy)
		},
	}
	of.add(cmd)
	addOutputFlag(cmd, &output)
	return cmd
}

func newSubscriptionEnableCmd() *cobra.Command {
	var of orgFlag
	cmd := &cobra.Command{
		Use:   "enable ID",
		Short: "Enable a subscription disabled because its webhook answered 410 Gone (admins)",
		Long: `A webhook that answers 410 Gone disables its subscription and sends what was queued for it
to the dead letters. Once the receiver is back, enable the subscription: new events reach it
again. Retry its dead letters (patchday dead-letter retry) to send what it missed.`,
		Example: `  patchday subscription enable --org acme 3`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			var sub apiSubscription
			if err := c.do(cmd.Context(), http.MethodPost, subscriptionPath(org, args[0])+"/enable", nil, nil, &sub); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Enabled subscription %s: %s\n", args[0], sub.state())
			return nil
		},
	}
	of.add(cmd)
	return cmd
}

func newSubscriptionDeleteCmd() *cobra.Command {
	return orgCall{use: "delete ID", short: "Delete a subscription and what is queued for it (admins)",
		example: `  patchday subscription delete --org acme 3`, method: http.MethodDelete, path: subscriptionPath,
		done: "Deleted subscription %s"}.command()
}

type apiDelivery struct {
	ID             int64     `json:"id"`
	SubscriptionID int64     `json:"subscription_id"`
	Kind           string    `json:"kind"`
	Attempts       int       `json:"attempts"`
	LastError      string    `json:"last_error"`
	CreatedAt      time.Time `json:"created_at"`
}

func newDeadLetterCmd() *cobra.Command {
	cmd := groupCmd("dead-letter", "Notifications that could not be delivered", `  patchday dead-letter list --org acme
  patchday dead-letter retry --org acme 17`)
	cmd.Long = `A delivery that failed every attempt (8 by default, backing off from a minute to six hours), or
whose webhook answered 410 Gone, becomes a dead letter. List them with the last error, fix the
cause, and retry.`
	var of orgFlag
	var lf listFlags
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the dead letters with their last error",
		Example: `  patchday dead-letter list --org acme`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return listInOrg(cmd, &of, lf, "dead-letters", nil, []string{"id", "subscription", "kind", "attempts", "created", "last error"},
				func(d apiDelivery) []string {
					return []string{fmt.Sprint(d.ID), fmt.Sprint(d.SubscriptionID), d.Kind, fmt.Sprint(d.Attempts),
						d.CreatedAt.Local().Format(time.DateTime), d.LastError}
				})
		},
	}
	of.add(list)
	addListFlags(list, &lf)
	var rof orgFlag
	retry := &cobra.Command{
		Use:     "retry ID",
		Short:   "Queue a dead letter again, due now (admins)",
		Example: `  patchday dead-letter retry --org acme 17`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, err := rof.get()
			if err != nil {
				return err
			}
			c, err := loggedInClient()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodPost, "/api/v1/orgs/"+url.PathEscape(org)+"/dead-letters/"+url.PathEscape(args[0])+"/retry",
				nil, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Queued delivery %s again\n", args[0])
			return nil
		},
	}
	rof.add(retry)
	cmd.AddCommand(list, retry)
	return cmd
}
