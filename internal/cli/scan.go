package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchday/patchday/internal/scan"
	"github.com/patchday/patchday/internal/scan/probe"
)

type scanOptions struct {
	ports       string
	udp         bool
	udpPorts    string
	rate        float64
	concurrency int
	timeout     time.Duration
	policy      string
	allowPublic bool
	reportAll   bool
	upload      bool
	maxTargets  int
	failOnViol  bool
	org         orgFlag
	output      outputFormat
}

func newScanCmd() *cobra.Command {
	var o scanOptions
	cmd := &cobra.Command{
		Use:   "scan TARGETS... [--ports LIST|top100|all] [--udp] [--rate N] [--policy FILE] [-o table|json|csv] [--upload]",
		Short: "Find reachable services and firewall-policy violations on a network",
		Long: `Scan finds what an attacker on the network would find: the open TCP ports of the targets (by
connecting), and with --udp the UDP services that answer (DNS, SNMP, and SQL Server's
resolution service on 1434, the port the Slammer worm used), identifying the service and its
version where the protocol tells. With --policy FILE every open port outside the firewall
policy of its zone is a violation.

TARGETS are addresses, CIDRs (10.0.0.0/24), ranges (10.0.0.1-10.0.0.50 or 10.0.0.1-50), host
names, or @FILE with one target per line. Addresses outside private, loopback, link-local and
CGNAT ranges are refused unless --allow-public: scan only networks you are responsible for.
The scan is rate limited (--rate, probes per second; 0 for no limit) and bounded
(--concurrency). Ctrl-C stops it at once and prints (and uploads) what was found so far,
and the command exits with status 130. With --fail-on-violation it exits with status 3
when an open port breaks the policy.
--upload stores the open ports found on the server (--org), which compares them with the
previous complete scan of the same targets and ports. See docs/scanning.md.`,
		Example: `  patchday scan 10.0.0.0/24
  patchday scan 10.1.0.0/24 --ports 1-1024 --udp --policy firewall.yaml -o json
  patchday scan @servers.txt --ports all --rate 2000 --upload --org acme`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("scan needs at least one target")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runScan(cmd, args, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.ports, "ports", "top100", "TCP ports: a list and ranges (22,80,8000-8100), top100 or all")
	f.BoolVar(&o.udp, "udp", false, "also probe UDP services (--udp-ports)")
	f.StringVar(&o.udpPorts, "udp-ports", "53,123,161,500,1434,1900,5353", "UDP ports probed with --udp")
	f.Float64Var(&o.rate, "rate", scan.DefaultRate, "probes started per second at most; 0 for no limit")
	f.IntVar(&o.concurrency, "concurrency", scan.DefaultConcurrency, "probes in flight at most; fewer on a fast link, where more only cost CPU")
	f.DurationVar(&o.timeout, "timeout", scan.DefaultTimeout, "how long one probe waits for an answer")
	f.StringVar(&o.policy, "policy", "", "firewall policy file (YAML: zones with CIDRs and allowed ports)")
	f.BoolVar(&o.allowPublic, "allow-public", false, "allow targets outside private, loopback, link-local and CGNAT ranges")
	f.BoolVar(&o.reportAll, "all-states", false, "report closed and filtered ports too, not only open ones")
	f.BoolVar(&o.upload, "upload", false, "store the result on the server (needs a login and --org)")
	f.IntVar(&o.maxTargets, "max-targets", scan.DefaultMaxAddrs, "refuse to scan more addresses than this")
	// The upload's fields are the scan's results, not the flags' values (its "ports" is a
	// count of TCP and UDP ports).
	cmd.Annotations = map[string]string{"field:ports": "", "field:targets": ""}
	f.BoolVar(&o.failOnViol, "fail-on-violation", false, "exit with status 3 when an open port breaks the --policy (for CI jobs and monitoring)")
	o.org.add(cmd)
	addOutputFlagCSV(cmd, &o.output)
	return cmd
}

func runScan(cmd *cobra.Command, args []string, o scanOptions) error {
	switch {
	case o.rate < 0:
		return usageError{fmt.Errorf("--rate %v: must be 0 (no limit) or more", o.rate)}
	case o.concurrency < 1 || o.concurrency > 10000:
		return usageError{fmt.Errorf("--concurrency %d: must be from 1 to 10000", o.concurrency)}
	case o.timeout <= 0:
		return usageError{fmt.Errorf("--timeout %v: must be more than 0", o.timeout)}
	case o.maxTargets < 1:
		return usageError{fmt.Errorf("--max-targets %d: must be 1 or more", o.maxTargets)}
	case o.failOnViol && o.policy == "":
		return usageError{errors.New("--fail-on-violation needs a --policy to be violated")}
	}
	ports, err := scan.ParsePorts(o.ports)
	if err != nil {
		return usageError{fmt.Errorf("--ports: %w", err)}
	}
	var udpPorts []uint16
	if o.udp {
		if udpPorts, err = scan.ParsePorts(o.udpPorts); err != nil {
			return usageError{fmt.Errorf("--udp-ports: %w", err)}
		}
	}
	var policy *scan.Policy
	if o.policy != "" {
		fh, err := os.Open(o.policy)
		if err != nil {
			return err
		}
		p, err := scan.ParsePolicy(fh)
		fh.Close()
		if err != nil {
			return fmt.Errorf("--policy %s: %w", o.policy, err)
		}
		policy = &p
	}
	// The upload's client first: a scan that cannot be stored should not run for an hour.
	var c *client
	var org string
	if o.upload {
		if org, err = o.org.get(); err != nil {
			return err
		}
		if c, err = loggedInClient(); err != nil {
			return err
		}
		// The role too: a scan whose result cannot be stored should not run for an hour.
		var me whoami
		if err := c.do(cmd.Context(), http.MethodGet, "/api/v1/me", nil, nil, &me); err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		i := slices.IndexFunc(me.Memberships, func(m membership) bool { return m.Org == org })
		switch {
		case i < 0 && !me.SiteAdmin:
			return fmt.Errorf("--upload: you are not a member of %s", org)
		case i >= 0 && me.Memberships[i].Role != "admin" && me.Memberships[i].Role != "operator" && !me.SiteAdmin:
			return fmt.Errorf("--upload: uploading a scan to %s takes the operator or admin role; yours is %s", org, me.Memberships[i].Role)
		}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tp := scan.TargetParser{AllowPublic: o.allowPublic, MaxAddrs: o.maxTargets}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	targets, err := tp.Parse(pctx, args)
	cancel()
	var tooMany *scan.TooManyTargetsError
	if errors.As(err, &tooMany) {
		return usageError{fmt.Errorf("%w: --max-targets raises the limit", err)}
	} else if err != nil {
		return usageError{err}
	}
	s := &scan.Scanner{Concurrency: o.concurrency, Rate: o.rate, Timeout: o.timeout}
	if o.rate == 0 {
		s.Rate = scan.Unlimited
	}
	probe.Attach(s)
	opts := scan.Options{UDPPorts: udpPorts, Targets: args, ReportAll: o.reportAll, Policy: policy}
	stderr := cmd.ErrOrStderr()
	if f, ok := stderr.(*os.File); ok && isTerminal(f) {
		opts.Progress = progressBar(stderr)
	}
	res, err := s.Scan(ctx, targets, ports, opts)
	if opts.Progress != nil {
		fmt.Fprintln(stderr)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if res.Interrupted {
		fmt.Fprintln(stderr, "interrupted: the results below are partial")
	}
	if err := writeScan(cmd.OutOrStdout(), o.output, res); err != nil {
		return err
	}
	if o.upload {
		// Uploading is worth finishing even after Ctrl-C stopped the scan.
		type port struct {
			Host, Protocol            string
			Port                      int
			Service, Product, Version string
			Advisories                []string
		}
		var stored struct {
			ID          int64  `json:"id"`
			Opened      int    `json:"opened"`
			Closed      int    `json:"closed"`
			Findings    []port `json:"findings"`
			ClosedPorts []port `json:"closed_ports"`
		}
		// The server keeps open ports; --all-states' closed and filtered ones are in the stats.
		up := res
		up.Findings = slices.DeleteFunc(slices.Clone(res.Findings), func(f scan.Finding) bool { return f.State != scan.StateOpen })
		if err := c.do(context.WithoutCancel(ctx), http.MethodPost, "/api/v1/orgs/"+url.PathEscape(org)+"/scans", nil, up, &stored); err != nil {
			return fmt.Errorf("upload: %w", err)
		}
		fmt.Fprintf(stderr, "uploaded as scan %d: %d ports opened and %d closed since the previous scan of these targets\n",
			stored.ID, stored.Opened, stored.Closed)
		// What only the server knows: the advisories its catalog matched, the ports gone.
		for _, f := range stored.Findings {
			if len(f.Advisories) > 0 {
				fmt.Fprintf(stderr, "  %s %s/%d %s: %s\n", f.Host, f.Protocol, f.Port,
					strings.TrimSpace(f.Product+" "+f.Version), strings.Join(f.Advisories, ", "))
			}
		}
		for _, f := range stored.ClosedPorts {
			fmt.Fprintf(stderr, "  closed: %s %s/%d %s\n", f.Host, f.Protocol, f.Port, f.Service)
		}
	}
	if res.Interrupted {
		return errInterrupted
	}
	if o.failOnViol {
		if n := len(slices.DeleteFunc(slices.Clone(res.Findings), func(f scan.Finding) bool { return f.Violation == nil })); n > 0 {
			return fmt.Errorf("open ports that break the policy: %d: %w", n, errViolation)
		}
	}
	return nil
}

func writeScan(w io.Writer, format outputFormat, res scan.Result) error {
	switch format {
	case outputJSON:
		return scan.WriteJSON(w, res)
	case outputCSV:
		return scan.WriteCSV(w, res)
	}
	return scan.WriteTable(w, res)
}

// progressBar draws "[#####.....] 512/1000 probes, 3 open" on one line of w.
func progressBar(w io.Writer) func(scan.Progress) {
	return func(p scan.Progress) {
		const width = 30
		n := 0
		if p.Total > 0 {
			n = p.Done * width / p.Total
		}
		fmt.Fprintf(w, "\r[%s%s] %d/%d probes, %d open", strings.Repeat("#", n), strings.Repeat(".", width-n), p.Done, p.Total, p.Open)
	}
}
