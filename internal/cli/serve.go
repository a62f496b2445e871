package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/gateway"
	"github.com/moat-gw/moat/internal/ratelimit"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	flagPath := configFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, path, err := loadConfig(*flagPath, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	// go-redis has one logger per process; route it once, here, where the
	// process logger is made, so its lines keep log.format.
	ratelimit.RouteRedisLogs(log)
	srv, err := gateway.New(ctx, cfg, gateway.Options{Logger: log, Version: version(), Commit: build().Commit})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}
	printBanner(stdout, cfg, srv, path)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			if path == "" {
				log.Warn("reload requested but moat runs on built-in defaults; nothing to reload")
				continue
			}
			next, err := config.Load(path)
			if err == nil {
				err = srv.Reload(next)
			} else {
				srv.RecordReload(err)
			}
			if err != nil {
				log.Error("config reload failed; keeping the running config", "err", err)
				continue
			}
			log.Info("config reloaded", "path", path)
		case <-ctx.Done():
			// Pre-stop (readyz draining, calls served), then the grace
			// period for calls in flight (docs/routing.md).
			log.Info("shutting down", "pre_stop", cfg.Shutdown.PreStopD().String(),
				"grace_period", cfg.Shutdown.GracePeriod.D().String())
			return srv.Shutdown(context.Background())
		}
	}
}

// printBanner tells a new user how to call the gateway they just started,
// as it is configured: the scheme, whether a key is needed, and where the
// metrics and the dashboard are.
func printBanner(w io.Writer, cfg *config.Config, srv *gateway.Server, path string) {
	base := listenerURL(cfg.Listeners[0], srv)
	names := make([]string, 0, len(cfg.Deployments))
	for _, d := range cfg.Deployments {
		names = append(names, d.Name)
	}
	fmt.Fprintf(w, "moat %s is serving the Azure OpenAI API on %s\n", version(), base)
	for _, l := range cfg.Listeners[1:] {
		fmt.Fprintf(w, "  also on:     %s (%s)\n", listenerURL(l, srv), l.Name)
	}
	if path == "" {
		fmt.Fprintln(w, "  config:      built-in defaults (no config file found)")
	} else {
		fmt.Fprintf(w, "  config:      %s\n", path)
	}
	for _, u := range cfg.Upstreams {
		if u.Type == "simulator" {
			fmt.Fprintf(w, "  upstream:    %s is the built-in simulator (fake completions)\n", u.Name)
		}
	}
	fmt.Fprintf(w, "  deployments: %s\n", strings.Join(names, ", "))
	if m := cfg.Management.Listeners; len(m) > 0 {
		mgmt := listenerURL(m[0], srv)
		fmt.Fprintf(w, "  metrics:     %s/metrics\n", mgmt)
		fmt.Fprintf(w, "  dashboard:   %s/dashboard/\n", mgmt)
	}
	keyHeader, keyEnv := "'api-key: any'", "AZURE_OPENAI_API_KEY=any"
	if cfg.Auth.Disabled {
		fmt.Fprintln(w, "  auth:        off (any api-key is accepted)")
	} else {
		fmt.Fprintln(w, "  auth:        on; make a key with: moat keys create --name me")
		keyHeader, keyEnv = `"api-key: $MOAT_API_KEY"`, "AZURE_OPENAI_API_KEY=$MOAT_API_KEY"
	}
	if len(names) > 0 {
		curlTLS := ""
		if cfg.Listeners[0].TLS != nil {
			curlTLS = "--cacert CA.pem "
		}
		fmt.Fprintf(w, "  try:\n    curl -s %s'%s/openai/deployments/%s/chat/completions?api-version=2024-10-21' \\\n"+
			"      -H %s -H 'content-type: application/json' \\\n"+
			"      -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'\n", curlTLS, base, names[0], keyHeader)
		fmt.Fprintf(w, "  SDKs: AZURE_OPENAI_ENDPOINT=%s OPENAI_API_VERSION=2024-10-21 %s\n", base, keyEnv)
	}
}

// listenerURL is the base URL of a bound listener.
func listenerURL(l config.Listener, srv *gateway.Server) string {
	if l.TLS != nil {
		return "https://" + srv.Addr(l.Name)
	}
	return "http://" + srv.Addr(l.Name)
}
