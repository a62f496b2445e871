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
  moat logs query [--config FILE] [--format table|json|csv] [--timeout 30s] '<KQL>'
                                         query the request log with a KQL subset
  moat idp [--addr A] [--identity name=clientID:objectID]
                                         run a development token issuer (managed-identity protocol, OIDC)
  moat keys create|list|revoke|regenerate [--config FILE]
                                         manage API keys in the configured store (a new key is shown once)
  moat roles assign|list|remove|definitions [--config FILE]
                                         manage role assignments (Azure-style RBAC)
  moat audit verify|list [--config FILE] check or show the hash-chained audit log of key and role changes
  moat status [--addr 127.0.0.1:9090] [--api-key-env VAR] [--json]
                                         show each deployment's upstreams: priority, weight, breaker, bench
  moat version                           print the version

Run 'moat COMMAND -h' for a command's flags.
`

// Main runs the command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
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
	case "version", "--version":
		err = runVersion(args[1:], stdout, stderr)
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

// newFlags makes a FlagSet that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("moat "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
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
