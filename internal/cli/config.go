package cli

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// envName is the environment variable that sets a flag: PATCHDAY_ and the flag's name in
// upper case with dashes as underscores (--tls-cert is PATCHDAY_TLS_CERT).
func envName(flag string) string {
	return "PATCHDAY_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// documentEnv appends each flag's environment variable to its help text.
func documentEnv(fs *pflag.FlagSet, skip ...string) {
	fs.VisitAll(func(f *pflag.Flag) {
		for _, s := range skip {
			if f.Name == s {
				return
			}
		}
		f.Usage += " [env " + envName(f.Name) + "]"
	})
}

// applyConfig fills every flag not given on the command line from its environment variable,
// else from the YAML config file (keys are flag names), so that the order of precedence is
// flags, then environment, then file. An unknown key in the file is an error.
func applyConfig(cmd *cobra.Command, file string) error {
	fs := cmd.Flags()
	fileVals := map[string]any{}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		if err := yaml.Unmarshal(b, &fileVals); err != nil {
			return fmt.Errorf("config file %s: %w", file, err)
		}
		var unknown []string
		for k := range fileVals {
			if f := fs.Lookup(k); f == nil || k == "config" || k == "help" {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return usageError{fmt.Errorf("config file %s: unknown setting %s (settings are the flag names of %s --help)",
				file, strings.Join(unknown, ", "), cmd.CommandPath())}
		}
	}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName(f.Name), err))
			}
			return
		}
		v, ok := fileVals[f.Name]
		if !ok {
			return
		}
		var items []any
		switch v := v.(type) {
		case []any:
			items = v
		default:
			items = []any{v}
		}
		for _, item := range items {
			if err := fs.Set(f.Name, fmt.Sprint(item)); err != nil {
				errs = append(errs, fmt.Errorf("config file %s: %s: %w", file, f.Name, err))
				return
			}
		}
	})
	if len(errs) > 0 {
		return usageError{errs[0]}
	}
	return nil
}
