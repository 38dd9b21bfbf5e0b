package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// addClientCommands adds the admin commands, which talk to a server's API.
func addClientCommands(root *cobra.Command) {
	root.AddCommand(
		newLoginCmd(),
		newLogoutCmd(),
		newWhoamiCmd(),
		newPasswdCmd(),
		newOrgCmd(),
		newUserCmd(),
		newTokenCmd(),
		newAuditCmd(),
		newProductCmd(),
		newAdvisoryCmd(),
		newPayloadCmd(),
		newUpdateCmd(),
		newReportCmd(),
		newEnrollTokenCmd(),
		newComputerCmd(),
		newGroupCmd(),
		newApproveCmd("install"),
		newApproveCmd("decline"),
		newUnapproveCmd(),
		newRolloutCmd(),
		newRuleCmd(),
		newScanCmd(),
		newScanScheduleCmd(),
		newScansCmd(),
		newSubscriptionCmd(),
		newDeadLetterCmd(),
		newHealthCmd(),
	)
	addPublishingCommands(root) // release, release-calendar, advisory schedule (release.go)
}

// groupCmd is a noun (org, user, ...) whose verbs are its subcommands. Run without a verb, or
// with an unknown one, it is a usage error.
func groupCmd(use, short, example string) *cobra.Command {
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("%s: unknown command %q (see %s --help)", cmd.CommandPath(), args[0], cmd.CommandPath())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var verbs []string
			for _, c := range cmd.Commands() {
				if c.IsAvailableCommand() {
					verbs = append(verbs, c.Name())
				}
			}
			return usageError{fmt.Errorf("%s: give a command: %s (see %s --help)", cmd.CommandPath(), strings.Join(verbs, ", "), cmd.CommandPath())}
		},
	}
}

// orgFlag is the --org flag of the commands on one organisation's objects.
type orgFlag struct{ slug string }

func (o *orgFlag) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.slug, "org", "", "the organisation's slug (default $"+envOrg+")")
}

// get is --org, else PATCHDAY_ORG; neither is a usage error.
func (o *orgFlag) get() (string, error) {
	if o.slug != "" {
		return o.slug, nil
	}
	if v := env(envOrg); v != "" {
		return v, nil
	}
	return "", usageError{errors.New("--org is required (or set " + envOrg + ")")}
}

// client is get with a client of the saved login: what most commands of an organisation
// start with.
func (o *orgFlag) client() (string, *client, error) {
	org, err := o.get()
	if err != nil {
		return "", nil, err
	}
	c, err := loggedInClient()
	return org, c, err
}

// orgCall describes a command that makes one call about one object of an organisation and
// says it is done: deletes, enables, disables.
type orgCall struct {
	use, short, long, example string
	method                    string
	path                      func(org, arg string) string
	done                      string // what the command prints, with %s for the argument
}

func (oc orgCall) command() *cobra.Command {
	var of orgFlag
	cmd := &cobra.Command{
		Use:     oc.use,
		Short:   oc.short,
		Long:    oc.long,
		Example: oc.example,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, c, err := of.client()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), oc.method, oc.path(org, args[0]), nil, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), oc.done+"\n", args[0])
			return nil
		},
	}
	of.add(cmd)
	return cmd
}

// requireFlag is a usage error for a missing required flag.
func requireFlag(name, value string) error {
	if value == "" {
		return usageError{fmt.Errorf("--%s is required", name)}
	}
	return nil
}
