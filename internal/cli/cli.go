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
	"os"
	"runtime/debug"
	"strings"

	"github.com/moat-gw/moat/internal/config"
)

// Version is set at build time with -ldflags "-X github.com/moat-gw/moat/internal/cli.Version=…".
var Version = ""

// version reports the build's version, from ldflags or module build info.
func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev := ""
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
		if rev != "" {
			return "devel-" + rev
		}
	}
	return "devel"
}

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
  moat doctor [--config FILE] [-o table|json] [--dns SERVER]
                                         diagnose DNS, TLS, credentials and Azure 403s for every upstream
  moat doctor --client URL [--api-key K] [--deployment D]
                                         from a client subnet: moat's name, certificate and network rules
  moat dns records [--config FILE] [--format bind|dnsmasq|coredns|windows|azure-cli|bicep]
                                         the DNS records clients need to reach moat
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
	case "doctor":
		err = runDoctor(ctx, args[1:], stdout, stderr)
	case "dns":
		err = runDNS(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "moat", version())
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

// loadConfig loads path, or the defaults when path is empty.
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Parse(nil)
	}
	return config.Load(path)
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

func runConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "validate" && args[0] != "print") {
		fmt.Fprintln(stderr, "usage: moat config validate|print [--config FILE]")
		return errUsage
	}
	fs := newFlags("config "+args[0], stderr)
	path := fs.String("config", "", "config file (default: built-in defaults)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if args[0] == "validate" {
		name := *path
		if name == "" {
			name = "built-in defaults"
		}
		fmt.Fprintf(stdout, "%s: ok (%d listeners, %d upstreams, %d deployments)\n", name,
			len(cfg.Listeners), len(cfg.Upstreams), len(cfg.Deployments))
		return nil
	}
	b, err := cfg.Dump()
	if err != nil {
		return err
	}
	_, err = stdout.Write(b)
	return err
}

// fileExists reports whether path names a file.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
