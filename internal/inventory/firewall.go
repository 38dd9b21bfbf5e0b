package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/patchday/patchday/internal/protocol"
)

// DefaultInput values.
const (
	policyAccept  = "accept"
	policyDrop    = "drop"
	policyReject  = "reject"
	policyUnknown = "unknown"
)

// firewallTools are the front ends looked for, with their binaries.
var firewallTools = []struct{ tool, binary string }{
	{"nftables", "nft"},
	{"iptables", "iptables"},
	{"ufw", "ufw"},
}

// firewall reads the input policy from the kernel's ruleset when it can (nft, then iptables),
// and from ufw's configuration files otherwise. It never fails: what it cannot read it reports
// as "unknown" with the reason in Detail.
func (c *Collector) firewall(ctx context.Context) protocol.Firewall {
	var fw protocol.Firewall
	bins := map[string]string{}
	for _, t := range firewallTools {
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if bin := path.Join(dir, t.binary); c.exists(bin) {
				fw.Tools = append(fw.Tools, t.tool)
				bins[t.tool] = bin
				break
			}
		}
	}
	if len(fw.Tools) == 0 {
		fw.DefaultInput, fw.Detail = policyUnknown, "no firewall tool found (nft, iptables, ufw)"
		return fw
	}

	var reasons []string
	nftAnswered := false
	if bin, ok := bins["nftables"]; ok {
		out, err := c.run(ctx, bin, "-j", "list", "ruleset")
		if err == nil {
			var found bool
			fw.Enabled, fw.DefaultInput, found, err = parseNftRuleset(out)
			if err == nil && found {
				fw.Detail = "nft ruleset"
				return fw
			}
			nftAnswered = err == nil
		}
		if err != nil {
			reasons = append(reasons, "nft: "+err.Error())
		}
	}
	// Without an input chain in nftables the rules may still be in iptables-legacy.
	if bin, ok := bins["iptables"]; ok {
		out, err := c.run(ctx, bin, "-S", "INPUT")
		if err == nil {
			fw.Enabled, fw.DefaultInput, err = parseIptablesInput(out)
			if err == nil {
				fw.Detail = "iptables -S INPUT"
				return fw
			}
		}
		reasons = append(reasons, "iptables: "+err.Error())
	}
	if nftAnswered {
		fw.Enabled, fw.DefaultInput = false, policyAccept
		fw.Detail = strings.Join(append([]string{"nft ruleset: no input filter chain"}, reasons...), "; ")
		return fw
	}
	if _, ok := bins["ufw"]; ok {
		fw.Enabled, fw.DefaultInput = c.ufwConfig()
		reasons = append([]string{"ufw configuration files"}, reasons...)
		fw.Detail = strings.Join(reasons, "; ")
		return fw
	}
	fw.Enabled, fw.DefaultInput, fw.Detail = false, policyUnknown, strings.Join(reasons, "; ")
	return fw
}

// nftRuleset is the part of `nft -j list ruleset` that is read (libnftables-json(5)).
type nftRuleset struct {
	Nftables []struct {
		Chain *struct {
			Family, Table, Name, Type, Hook, Policy string
		} `json:"chain"`
		Rule *struct {
			Family, Table, Chain string
			Expr                 []any `json:"expr"`
		} `json:"rule"`
	} `json:"nftables"`
}

// parseNftRuleset reads the input filter chains of an nft JSON ruleset. found is false when
// there are none. A packet passes every input chain, so one dropping policy makes the default
// drop. The firewall is enabled when a policy drops or a rule in an input chain's table drops
// or rejects (directly, in a verdict map or in a chain it jumps to); a chain that only accepts
// filters nothing. A final "reject" rule is not a policy: DefaultInput stays the chain's policy.
func parseNftRuleset(out []byte) (enabled bool, policy string, found bool, err error) {
	var rs nftRuleset
	if err := json.Unmarshal(out, &rs); err != nil {
		return false, "", false, fmt.Errorf("parsing nft JSON: %w", err)
	}
	type table struct{ family, name string }
	inputTables := map[table]bool{}
	policy = policyAccept
	for _, obj := range rs.Nftables {
		ch := obj.Chain
		if ch == nil || ch.Hook != "input" || ch.Type != "filter" {
			continue
		}
		found = true
		inputTables[table{ch.Family, ch.Table}] = true
		if ch.Policy == policyDrop {
			enabled, policy = true, policyDrop
		}
	}
	for _, obj := range rs.Nftables {
		if r := obj.Rule; r != nil && inputTables[table{r.Family, r.Table}] && hasVerdict(r.Expr, policyDrop, policyReject) {
			enabled = true
		}
	}
	return enabled, policy, found, nil
}

// hasVerdict tells whether a decoded nft expression holds one of the verdict statements, which
// appear as object keys ({"drop": null}, {"reject": {...}}) at any depth.
func hasVerdict(v any, verdicts ...string) bool {
	switch v := v.(type) {
	case map[string]any:
		for k, sub := range v {
			for _, verdict := range verdicts {
				if k == verdict {
					return true
				}
			}
			if hasVerdict(sub, verdicts...) {
				return true
			}
		}
	case []any:
		for _, sub := range v {
			if hasVerdict(sub, verdicts...) {
				return true
			}
		}
	}
	return false
}

// parseIptablesInput reads `iptables -S INPUT`: "-P INPUT DROP" and "-A INPUT ... -j REJECT".
func parseIptablesInput(out []byte) (enabled bool, policy string, err error) {
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "-P" && f[1] == "INPUT":
			policy = strings.ToLower(f[2])
			if policy == policyDrop || policy == policyReject {
				enabled = true
			}
		case len(f) >= 2 && f[0] == "-A" && f[1] == "INPUT":
			for i := 2; i+1 < len(f); i++ {
				if f[i] == "-j" && (f[i+1] == "DROP" || f[i+1] == "REJECT") {
					enabled = true
				}
			}
		}
	}
	if policy == "" {
		return false, "", errors.New("no INPUT policy in iptables output")
	}
	return enabled, policy, nil
}

// ufwConfig reads ufw's files: whether it is enabled at boot and its default input policy.
// An enabled ufw filters by its rules whatever its policy; a disabled one says nothing about
// other rules, so the policy is then unknown.
func (c *Collector) ufwConfig() (enabled bool, policy string) {
	conf, _ := ParseOSRelease(bytes.NewReader(c.readOptional("etc/ufw/ufw.conf")))
	if !strings.EqualFold(conf["ENABLED"], "yes") {
		return false, policyUnknown
	}
	defaults, _ := ParseOSRelease(bytes.NewReader(c.readOptional("etc/default/ufw")))
	switch p := strings.ToLower(defaults["DEFAULT_INPUT_POLICY"]); p {
	case policyAccept, policyDrop, policyReject:
		return true, p
	}
	return true, policyUnknown
}
