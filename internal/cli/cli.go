// Package cli is moat's command line: it parses subcommands and flags and
// calls into the gateway. It is the only package that imports gateway.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/moat-gw/moat/internal/config"
)

const usage = `moat — a private-network gateway for Azure OpenAI

Usage:
  moat serve [--config moat.yaml]        run the gateway (no file: built-in simulator, SQLite in ./moat-data)
  moat config validate [--config FILE]   check a config file and report every problem
  moat config print [--config FILE]      print the effective config, secrets redacted
  moat simulator [flags]                 run the Azure OpenAI simulator on its own
  moat logs tail [--config FILE] [-n N] [-f]
                                         show recent calls from the request log (-f follows)
  moat logs query [--config FILE] [-o table|json|csv] [--timeout 30s] '<KQL>'
                                         query the request log with a KQL subset
  moat idp [--addr A] [--identity name=clientID:objectID] [--app clientID=redirectURI] [--user upn=objectID]
                                         run a development token issuer (managed-identity protocol, OIDC)
  moat keys create|list|revoke|regenerate [--config FILE]
                                         manage API keys in the configured store (a new key is shown once)
  moat roles assign|list|remove|definitions [--config FILE]
                                         manage role assignments (Azure-style RBAC)
  moat audit verify|list [--config FILE] check or show the hash-chained audit log of key and role changes
  moat status [--addr 127.0.0.1:9090] [--api-key-env VAR] [-o table|json]
                                         show each deployment's upstreams: priority, weight, breaker, bench
  moat doctor [--config FILE] [-o table|json] [--dns SERVER]
                                         diagnose DNS, TLS, credentials and Azure 403s for every upstream
  moat doctor --client URL [--api-key K] [--deployment D]
                                         from a client subnet: moat's name, certificate and network rules
  moat dns records [--config FILE] [--format bind|dnsmasq|coredns|windows|azure-cli|bicep]
                                         the DNS records clients need to reach moat
  moat version [-o json]                 print the version, commit and build date
  moat completion bash|zsh               print a shell completion script
  moat help [COMMAND [SUBCOMMAND]]       show help (the same as 'moat COMMAND --help')

Every command finds its config the same way: --config FILE, then $MOAT_CONFIG, then ./moat.yaml,
else the built-in defaults (with a warning). Commands that print data take -o table|json.
Run 'moat help COMMAND' for a command's flags.
`

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if args[0] == "help" && len(args) > 1 {
		// "moat help keys create" is "moat keys create --help".
		args = append(args[1:len(args):len(args)], "--help")
	}
	help := wantsHelp(args[1:])
	if help {
		stderr = stdout // asked-for help is output, not an error
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "config":
		err = runConfig(args[1:], stdout, stderr)
	case "simulator":
		err = runSimulator(ctx, args[1:], stdout, stderr)
	case "logs":
		err = runLogs(ctx, args[1:], stdout, stderr)
	case "idp":
		err = runIDP(ctx, args[1:], stdout, stderr)
	case "keys":
		err = runKeys(ctx, args[1:], stdout, stderr)
	case "roles":
		err = runRoles(ctx, args[1:], stdout, stderr)
	case "audit":
		err = runAudit(ctx, args[1:], stdout, stderr)
	case "status":
		err = runStatus(ctx, args[1:], stdout, stderr)
	case "doctor":
		err = runDoctor(ctx, args[1:], stdout, stderr)
	case "dns":
		err = runDNS(args[1:], stdout, stderr)
	case "version", "--version":
		err = runVersion(args[1:], stdout, stderr)
	case "completion":
		err = runCompletion(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "moat: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage) && help:
		return 0 // a command group's usage, asked for
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, errSilent):
		return 1
	default:
		fmt.Fprintln(stderr, "moat:", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return 1
	}
}

var errUsage = errors.New("usage")

// wantsHelp reports whether args ask for help before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// newFlags makes a FlagSet that reports errors instead of exiting, and
// whose help spells long flags --name, as the usage text does.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("moat "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { printFlags(fs) }
	return fs
}

// printFlags writes a command's flags, one per entry, --long or -s.
func printFlags(fs *flag.FlagSet) {
	fmt.Fprintf(fs.Output(), "usage: %s [flags]\n\n", fs.Name())
	printFlagList(fs)
}

// printFlagList writes "flags:" and the flags, for commands that print
// their own usage lines first.
func printFlagList(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintln(w, "flags:")
	fs.VisitAll(func(f *flag.Flag) {
		arg, help := flag.UnquoteUsage(f)
		if arg != "" {
			arg = " " + arg
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  %s%s\n        %s%s\n", flagName(f.Name), arg, help, def)
	})
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	return nil
}

// newLogger builds the process logger from config.
func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
