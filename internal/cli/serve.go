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
	path := fs.String("config", "", "config file (default: built-in simulator, SQLite in ./moat-data)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *path == "" && fileExists("moat.yaml") {
		fmt.Fprintln(stderr, "moat: note: ./moat.yaml exists but is not used; pass --config moat.yaml to use it")
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	// go-redis has one logger per process; route it once, here, where the
	// process logger is made, so its lines keep log.format.
	ratelimit.RouteRedisLogs(log)
	srv, err := gateway.New(ctx, cfg, gateway.Options{Logger: log, Version: version()})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}
	printBanner(stdout, cfg, srv, *path == "")

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			if *path == "" {
				log.Warn("reload requested but moat runs on built-in defaults; nothing to reload")
				continue
			}
			next, err := config.Load(*path)
			if err == nil {
				err = srv.Reload(next)
			}
			if err != nil {
				log.Error("config reload failed; keeping the running config", "err", err)
				continue
			}
			log.Info("config reloaded", "path", *path)
		case <-ctx.Done():
			// Pre-stop (readyz draining, calls served), then the grace
			// period for calls in flight (docs/routing.md).
			log.Info("shutting down", "pre_stop", cfg.Shutdown.PreStopD().String(),
				"grace_period", cfg.Shutdown.GracePeriod.D().String())
			return srv.Shutdown(context.Background())
		}
	}
}

// printBanner tells a new user how to call the gateway they just started.
func printBanner(w io.Writer, cfg *config.Config, srv *gateway.Server, defaults bool) {
	l := cfg.Listeners[0]
	scheme := "http"
	if l.TLS != nil {
		scheme = "https"
	}
	base := scheme + "://" + srv.Addr(l.Name)
	names := make([]string, 0, len(cfg.Deployments))
	for _, d := range cfg.Deployments {
		names = append(names, d.Name)
	}
	fmt.Fprintf(w, "moat %s is serving the Azure OpenAI API on %s\n", version(), base)
	if defaults {
		fmt.Fprintln(w, "  upstream:    built-in simulator (no config file given)")
	}
	fmt.Fprintf(w, "  deployments: %s\n", strings.Join(names, ", "))
	if m := cfg.Management.Listeners; len(m) > 0 {
		fmt.Fprintf(w, "  metrics:     http://%s/metrics\n", srv.Addr(m[0].Name))
	}
	if len(names) > 0 {
		fmt.Fprintf(w, "  try:\n    curl -s '%s/openai/deployments/%s/chat/completions?api-version=2024-10-21' \\\n"+
			"      -H 'api-key: any' -H 'content-type: application/json' \\\n"+
			"      -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'\n", base, names[0])
		fmt.Fprintf(w, "  SDKs: AZURE_OPENAI_ENDPOINT=%s OPENAI_API_VERSION=2024-10-21 AZURE_OPENAI_API_KEY=any\n", base)
	}
}
