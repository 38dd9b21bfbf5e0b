package inventory

import (
	"context"
	"reflect"
	"testing"
)

func TestFirewall(t *testing.T) {
	const (
		nft = "nft -j list ruleset"
		ipt = "iptables -S INPUT"
	)
	nftRoot := map[string]string{"usr/sbin/nft": ""}
	allTools := map[string]string{"usr/sbin/nft": "", "sbin/iptables": "", "usr/sbin/ufw": ""}
	ufwOn := map[string]string{
		"usr/sbin/ufw":      "",
		"etc/ufw/ufw.conf":  "ENABLED=yes\n",
		"etc/default/ufw":   "DEFAULT_INPUT_POLICY=\"REJECT\"\n",
		"usr/sbin/iptables": "",
	}
	notRoot := recording{stderr: "nft-notroot.stderr", exit: 1}
	iptNotRoot := recording{stderr: "iptables-notroot.stderr", exit: 4}
	tests := []struct {
		name  string
		files map[string]string
		recs  map[string]recording
		want  string // DefaultInput
		on    bool   // Enabled
		tools []string
		// detail is the whole expected Detail.
		detail string
	}{
		{
			name: "nft policy drop", files: nftRoot,
			recs: map[string]recording{nft: {stdout: "nft-policy-drop.json"}},
			want: "drop", on: true, tools: []string{"nftables"}, detail: "nft ruleset",
		},
		{
			name: "nft policy accept, final reject: still the policy", files: nftRoot,
			recs: map[string]recording{nft: {stdout: "nft-accept-final-reject.json"}},
			want: "accept", on: true, tools: []string{"nftables"}, detail: "nft ruleset",
		},
		{
			name: "nft input chain that only accepts filters nothing", files: nftRoot,
			recs: map[string]recording{nft: {stdout: "nft-accept-only.json"}},
			want: "accept", on: false, tools: []string{"nftables"}, detail: "nft ruleset",
		},
		{
			name: "nft drop in a verdict map", files: nftRoot,
			recs: map[string]recording{nft: {stdout: "nft-accept-vmap-drop.json"}},
			want: "accept", on: true, tools: []string{"nftables"}, detail: "nft ruleset",
		},
		{
			name: "nft empty, no iptables", files: nftRoot,
			recs: map[string]recording{nft: {stdout: "nft-empty.json"}},
			want: "accept", on: false, tools: []string{"nftables"}, detail: "nft ruleset: no input filter chain",
		},
		{
			name: "nft empty, iptables (legacy) has the rules", files: allTools,
			recs: map[string]recording{nft: {stdout: "nft-empty.json"}, ipt: {stdout: "iptables-policy-drop.txt"}},
			want: "drop", on: true, tools: []string{"nftables", "iptables", "ufw"}, detail: "iptables -S INPUT",
		},
		{
			name: "iptables only, accept with reject rule", files: map[string]string{"usr/sbin/iptables": ""},
			recs: map[string]recording{ipt: {stdout: "iptables-accept-reject.txt"}},
			want: "accept", on: true, tools: []string{"iptables"}, detail: "iptables -S INPUT",
		},
		{
			name: "iptables only, empty", files: map[string]string{"sbin/iptables": ""},
			recs: map[string]recording{ipt: {stdout: "iptables-empty.txt"}},
			want: "accept", on: false, tools: []string{"iptables"}, detail: "iptables -S INPUT",
		},
		{
			name: "nft fails, iptables answers", files: allTools,
			recs: map[string]recording{nft: notRoot, ipt: {stdout: "iptables-policy-drop.txt"}},
			want: "drop", on: true, tools: []string{"nftables", "iptables", "ufw"}, detail: "iptables -S INPUT",
		},
		{
			name: "not root, no ufw", files: map[string]string{"usr/sbin/nft": "", "usr/sbin/iptables": ""},
			recs: map[string]recording{nft: notRoot, ipt: iptNotRoot},
			want: "unknown", on: false, tools: []string{"nftables", "iptables"},
			detail: "nft: exit status 1: Operation not permitted (you must be root); " +
				"iptables: exit status 4: iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)",
		},
		{
			name: "not root, ufw files", files: ufwOn,
			recs: map[string]recording{ipt: iptNotRoot},
			want: "reject", on: true, tools: []string{"iptables", "ufw"},
			detail: "ufw configuration files; iptables: exit status 4: iptables v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)",
		},
		{
			name: "not root, ufw disabled", files: map[string]string{"usr/sbin/ufw": "", "etc/ufw/ufw.conf": "ENABLED=no\n"},
			want: "unknown", on: false, tools: []string{"ufw"}, detail: "ufw configuration files",
		},
		{
			name: "nft answers garbage", files: nftRoot,
			recs: map[string]recording{nft: {stdout: "iptables-empty.txt"}},
			want: "unknown", on: false, tools: []string{"nftables"},
			detail: "nft: parsing nft JSON: invalid character 'P' in numeric literal",
		},
		{
			name: "iptables answers without a policy", files: map[string]string{"usr/sbin/iptables": ""},
			recs: map[string]recording{ipt: {stdout: "nft-empty.json"}},
			want: "unknown", on: false, tools: []string{"iptables"},
			detail: "iptables: no INPUT policy in iptables output",
		},
		{
			name: "no tools", want: "unknown", detail: "no firewall tool found (nft, iptables, ufw)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tt.files)
			c := &Collector{Root: root, Run: recordedRun(t, tt.recs)}
			got := c.firewall(context.Background())
			if got.DefaultInput != tt.want || got.Enabled != tt.on || !reflect.DeepEqual(got.Tools, tt.tools) || got.Detail != tt.detail {
				t.Errorf("firewall() = %+v\nwant DefaultInput %q, Enabled %v, Tools %q, Detail %q", got, tt.want, tt.on, tt.tools, tt.detail)
			}
		})
	}
}
