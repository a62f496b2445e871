package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/moat-gw/moat/internal/config"
)

const configUsage = `usage: moat config validate [--config FILE] [--no-secrets] [-o table|json]
       moat config print [--config FILE] [--no-secrets]`

// validation is `moat config validate -o json`'s answer.
type validation struct {
	File        string   `json:"file"`
	OK          bool     `json:"ok"`
	Problems    []string `json:"problems"`
	Listeners   int      `json:"listeners,omitempty"`
	Upstreams   int      `json:"upstreams,omitempty"`
	Deployments int      `json:"deployments,omitempty"`
}

func runConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "validate" && args[0] != "print") {
		fmt.Fprintln(stderr, configUsage)
		return errUsage
	}
	fs := newFlags("config "+args[0], stderr)
	path := configFlag(fs)
	noSecrets := fs.Bool("no-secrets", false, "let ${ENV} and file: secrets that are not available here stand as placeholders")
	var out *outputFormat
	if args[0] == "validate" {
		out = outputFlag(fs)
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, file, err := loadConfigWith(*path, config.LoadOptions{NoSecrets: *noSecrets}, stderr)
	if file == "" {
		file = "built-in defaults"
	}
	if args[0] == "print" {
		if err != nil {
			return err
		}
		b, err := cfg.Dump()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "# moat config in force, from %s; defaults filled in, secrets redacted\n", file)
		_, err = stdout.Write(b)
		return err
	}
	v := validation{File: file, OK: err == nil, Problems: []string{}}
	if err != nil {
		v.Problems = problems(err, file)
	} else {
		v.Listeners, v.Upstreams, v.Deployments = len(cfg.AllListeners()), len(cfg.Upstreams), len(cfg.Deployments)
	}
	if out.json() {
		if err := printJSON(stdout, v); err != nil {
			return err
		}
	} else if v.OK {
		fmt.Fprintf(stdout, "%s: ok (%d listeners, %d upstreams, %d deployments)\n", file, v.Listeners, v.Upstreams, v.Deployments)
	} else {
		fmt.Fprintf(stdout, "%s: %d problem(s)\n", file, len(v.Problems))
		for _, p := range v.Problems {
			fmt.Fprintln(stdout, "  "+p)
		}
	}
	if !v.OK {
		return errSilent
	}
	return nil
}

// problems flattens a joined config error into one line per problem,
// without the file name each line would otherwise repeat.
func problems(err error, file string) []string {
	msg := strings.TrimPrefix(err.Error(), file+": ")
	var out []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// errSilent is a failure already explained on stdout: exit 1, say nothing more.
var errSilent = errors.New("failed")
