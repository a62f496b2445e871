package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/simulator"
	"github.com/moat-gw/moat/internal/tokens"
	"github.com/moat-gw/moat/internal/upstream"
)

// simHost runs the built-in simulator on a loopback port inside the moat
// process, so simulator upstreams go through the same HTTP path, transport
// and ReverseProxy as real ones. Its handler is swapped on reload.
type simHost struct {
	ln      net.Listener
	srv     *http.Server
	handler atomic.Pointer[http.Handler]
	log     *slog.Logger
}

func startSimHost(log *slog.Logger) (*simHost, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start simulator: %w", err)
	}
	h := &simHost{ln: ln, log: log}
	h.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := h.handler.Load(); p != nil {
			(*p).ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("simulator stopped", "err", err)
		}
	}()
	return h, nil
}

func (h *simHost) url() string { return "http://" + h.ln.Addr().String() }

// configure builds the simulator for the deployments served by simulator
// upstreams in cfg.
func (h *simHost) configure(cfg *config.Config, tc *tokens.Counter) error {
	opts := SimulatorOptions(cfg)
	if len(opts.Deployments) == 0 {
		h.handler.Store(nil)
		return nil
	}
	sim, err := simulator.New(opts, tc, h.log.With("component", "simulator"))
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	var hh http.Handler = sim
	h.handler.Store(&hh)
	return nil
}

// SimulatorOptions derives simulator options from config: one simulated
// deployment per deployment bound to a simulator upstream.
func SimulatorOptions(cfg *config.Config) simulator.Options {
	sc := cfg.Simulator
	opts := simulator.Options{
		Region:    cfg.Region,
		Seed:      sc.Seed,
		Latency:   simulator.Latency{TimeToFirstToken: sc.TimeToFirstToken.D(), TokensPerSecond: sc.TokensPerSecond},
		BatchTime: sc.BatchTime.D(),
		Faults: simulator.Faults{ErrorRate: sc.ErrorRate, TimeoutRate: sc.TimeoutRate,
			DropStreamRate: sc.DropStreamRate, RateLimitRate: sc.RateLimitRate},
	}
	simUpstreams := map[string]bool{}
	for _, u := range cfg.Upstreams {
		if u.Type == upstream.TypeSimulator {
			simUpstreams[u.Name] = true
		}
	}
	seen := map[string]bool{}
	for _, d := range cfg.Deployments {
		for _, du := range d.Upstreams {
			if !simUpstreams[du.Upstream] || seen[du.Deployment] {
				continue
			}
			seen[du.Deployment] = true
			// The model's family decides what the simulated deployment
			// serves, as on Azure: legacy completions for instruct and base
			// models, embeddings for embedding models, the Anthropic
			// Messages API for Claude, chat otherwise.
			kind := simulator.KindOf(d.Model)
			opts.Deployments = append(opts.Deployments, simulator.Deployment{
				Name: du.Deployment, Model: d.Model, Kind: kind, TPM: deref(sc.TPM), RPM: deref(sc.RPM)})
		}
	}
	return opts
}

func (h *simHost) close() {
	if h != nil {
		_ = h.srv.Close()
	}
}

// deref reads an optional config number; nil (never after Parse) is 0.
func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
