package cli

import (
	"flag"
	"fmt"
	"strings"
)

// outputFormat is the -o flag every command that prints data takes, so
// scripts learn one spelling: -o table (for people) or -o json (for jq).
type outputFormat struct {
	name string
}

func (o *outputFormat) String() string {
	if o == nil || o.name == "" {
		return "table"
	}
	return o.name
}

func (o *outputFormat) Set(s string) error {
	switch s {
	case "table", "json":
		o.name = s
		return nil
	}
	return fmt.Errorf("want table or json, not %q", s)
}

// json reports whether JSON was asked for.
func (o *outputFormat) json() bool { return o != nil && o.name == "json" }

// outputFlag adds -o (and --json, its older spelling) to fs.
func outputFlag(fs *flag.FlagSet) *outputFormat {
	o := &outputFormat{}
	fs.Var(o, "o", "output `format`: table or json")
	fs.BoolFunc("json", "same as -o json", func(string) error { o.name = "json"; return nil })
	return o
}

// flagNames returns the help's spelling of a flag: --name for long ones.
func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + strings.TrimPrefix(name, "-")
}
