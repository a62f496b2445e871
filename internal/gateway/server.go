package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/moat-gw/moat/internal/admin"
	"github.com/moat-gw/moat/internal/affinity"
	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/dataplane"
	"github.com/moat-gw/moat/internal/fleet"
	"github.com/moat-gw/moat/internal/proxyproto"
	"github.com/moat-gw/moat/internal/ratelimit"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store"
	"github.com/moat-gw/moat/internal/team"
	"github.com/moat-gw/moat/internal/telemetry"
	"github.com/moat-gw/moat/internal/tokens"
)

// Options are the process-level inputs of a Server.
type Options struct {
	Logger  *slog.Logger
	Version string
	// Commit is the source revision the binary was built from.
	Commit string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is the running gateway: listeners, the request log, metrics and
// the current pipeline, which Reload swaps atomically.
type Server struct {
	log     *slog.Logger
	now     func() time.Time
	version string
	commit  string
	reloads reloads
	reg     *prometheus.Registry
	metrics *dataplane.Metrics
	tokens  *tokens.Counter
	store   store.Store
	writer  *reqlog.Writer
	jsonl   *reqlog.JSONLines // the request log's JSON-lines copy; nil when off
	sim     *simHost
	limiter ratelimit.Limiter
	redis   *redis.Client
	tel     *telemetry.Telemetry // OTLP export; nil when not configured
	// targetKey keys the fingerprints that tell whether a reloaded pool
	// member still calls the same upstream (memberTarget).
	targetKey []byte

	cfg      atomic.Pointer[config.Config]
	info     atomic.Pointer[replicaInfo] // the running config's, set with cfg
	pipe     atomic.Pointer[dataplane.Pipeline]
	draining atomic.Bool
	reloadMu sync.Mutex

	// base is the parent of every request's context; cut cancels it with
	// httpx.ErrShutdown when the grace period ends, so the calls still
	// running are logged as cut by the shutdown. inflight counts data-plane
	// calls, so Shutdown can wait for their records before it flushes.
	base     context.Context
	cut      context.CancelCauseFunc
	inflight atomic.Int64
	started  time.Time // for the replicas table

	servers []*boundServer
	stop    context.CancelFunc        // ends background work started by Start
	admin   http.Handler              // the admin API, when the store keeps identities
	stored  *dataplane.StoredIdentity // key cache and last known good role assignments
	pins    *affinity.Table           // where stored responses live (dataplane/objects.go)
	teams   *team.Directory           // token principals' teams, from the store's team_members
}

type boundServer struct {
	name  string
	mgmt  bool
	ln    net.Listener
	srv   *http.Server
	certs *certSource // nil without TLS
	// active holds the listener's connections in http.StateActive: a
	// request being read, served or its answer written. A grace period
	// that ends with none is not a failure (closeServers).
	active activeConns
}

// activeConns tracks the connections of one listener that are in
// http.StateActive, through http.Server.ConnState.
type activeConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (a *activeConns) track(c net.Conn, st http.ConnState) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st == http.StateActive {
		if a.conns == nil {
			a.conns = map[net.Conn]struct{}{}
		}
		a.conns[c] = struct{}{}
	} else {
		delete(a.conns, c)
	}
}

func (a *activeConns) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.conns)
}

// New builds a Server from a validated config: it opens the log store and
// builds the first pipeline, but binds nothing until Start.
func New(ctx context.Context, cfg *config.Config, o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{log: o.Logger, now: o.Now, version: o.Version, commit: o.Commit, reg: prometheus.NewRegistry(), tokens: tokens.New(),
		targetKey: make([]byte, 32)}
	s.stored = dataplane.NewStoredIdentity(s.log, s.now)
	s.registerIdentityMetrics()
	_, _ = rand.Read(s.targetKey) // never fails (crypto/rand)
	s.base, s.cut = context.WithCancelCause(context.Background())
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = dataplane.NewMetrics(s.reg)
	s.reg.MustRegister(newBreakerCollector(s), newConfigInfoCollector(s))
	s.registerOpsMetrics()

	st, err := store.Open(ctx, cfg, store.Options{Logger: s.log})
	if err != nil {
		return nil, err
	}
	s.store = st
	s.pins = newPinTable(cfg, st, s.now)
	s.writer, err = reqlog.OpenWriter(st, cfg.Log.WriterOptions(), s.log)
	if err != nil {
		s.closeStores(ctx)
		return nil, err
	}
	s.registerLogMetrics()
	if err := s.openJSONLines(cfg); err != nil {
		s.closeStores(ctx)
		return nil, err
	}

	s.limiter = ratelimit.NewLocal()
	if rc := cfg.RateLimits.Redis; rc != nil {
		// ClientOptions keeps every wait of the client inside the limiter's
		// bound (no retries, short pool wait), so a frozen Redis cannot
		// hold calls longer than ratelimit.DefaultTimeout.
		s.redis = redis.NewClient(ratelimit.ClientOptions(rc.Address, rc.Password.Value(), rc.DB, ratelimit.DefaultTimeout))
		rl := ratelimit.NewRedis(s.redis, ratelimit.RedisOptions{Prefix: rc.KeyPrefix, Logger: s.log, Now: s.now})
		s.limiter = rl
		s.registerRedisMetrics(rl)
	}
	if s.tel, err = newTelemetry(ctx, cfg.Telemetry, o.Version, s.log); err != nil {
		s.closeStores(ctx)
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	if s.tel != nil {
		s.registerTelemetryMetrics()
	}
	fail := func(err error) (*Server, error) {
		s.sim.close()
		_ = s.shutdownTelemetry(cfg)
		s.closeStores(ctx)
		return nil, err
	}
	s.teams = newTeamDirectory(ctx, s.store, s.log)
	s.sim, err = startSimHost(s.log)
	if err != nil {
		return fail(err)
	}
	if err := s.install(ctx, cfg); err != nil {
		return fail(err)
	}
	if s.admin, err = s.newAdmin(s.store); err != nil {
		return fail(fmt.Errorf("admin api: %w", err))
	}
	s.reloads.lastOK = s.now()
	return s, nil
}

// install builds a pipeline for cfg and makes it current.
func (s *Server) install(ctx context.Context, cfg *config.Config) error {
	if err := s.sim.configure(cfg, s.tokens); err != nil {
		return err
	}
	p, err := dataplane.Build(ctx, cfg, dataplane.Deps{Log: s.log, Now: s.now, Tokens: s.tokens, Metrics: s.metrics,
		Sink: s.logRecord, Simulator: s.sim.url(), NewID: dataplane.NewRequestID, KeyStore: s.store, Assigned: s.store,
		RoleAssignments: admin.RBACAssignments, Stored: s.stored, Limiter: s.limiter, Tel: s.tel, TargetKey: s.targetKey,
		Pins: s.pins, Teams: s.teams})
	if err != nil {
		return err
	}
	// Benches and open breakers belong to the upstreams, not to a config
	// generation: the new pools take them over before any call sees them.
	prev := s.pipe.Load()
	if carried, fresh := p.CarryHealth(prev, s.now()); prev != nil {
		s.log.Info("upstream health carried over reload", "carried", carried, "fresh", fresh)
	}
	s.info.Store(s.describeReplica(cfg))
	s.cfg.Store(cfg)
	if old := s.pipe.Swap(p); old != nil {
		// Calls in flight keep their pipeline; idle connections can go.
		time.AfterFunc(cfg.Shutdown.GracePeriod.D(), old.Close)
	}
	return nil
}

// Reload swaps in a new config. Listener addresses cannot change without a
// restart; a config that changes them, or that fails to build, is refused
// and the running one stays.
func (s *Server) Reload(cfg *config.Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	err := s.reload(cfg)
	s.RecordReload(err)
	return err
}

func (s *Server) reload(cfg *config.Config) error {
	old := s.cfg.Load()
	if !sameListeners(old.Listeners, cfg.Listeners) || !sameListeners(old.Management.Listeners, cfg.Management.Listeners) {
		return errors.New("reload: listeners changed; restart moat to apply listener changes")
	}
	if hasProxyProtocol(cfg) && !slices.Equal(old.Network.TrustedProxies, cfg.Network.TrustedProxies) {
		return errors.New("reload: trusted_proxies changed while a listener uses proxy_protocol; restart moat to apply it")
	}
	if (old.RateLimits.Redis == nil) != (cfg.RateLimits.Redis == nil) ||
		(old.RateLimits.Redis != nil && old.RateLimits.Redis.Address != cfg.RateLimits.Redis.Address) {
		return errors.New("reload: rate_limits.redis changed; restart moat to apply it")
	}
	if !sameJSONL(old.Log.JSONL, cfg.Log.JSONL) {
		return errors.New("reload: log.jsonl changed; restart moat to apply it")
	}
	if old.Log.Store != cfg.Log.Store || old.Log.SQLitePath != cfg.Log.SQLitePath || old.DataDir != cfg.DataDir ||
		old.Log.PostgresDSN.Value() != cfg.Log.PostgresDSN.Value() || old.Log.SpoolDir != cfg.Log.SpoolDir ||
		old.Log.SpoolMaxBytes != cfg.Log.SpoolMaxBytes || old.Log.SpoolFsyncInterval != cfg.Log.SpoolFsyncInterval {
		return errors.New("reload: log store changed; restart moat to apply store changes")
	}
	if old.Replica.Name != cfg.Replica.Name {
		// The name keys the replicas table and every logged row.
		return errors.New("reload: replica.name changed; restart moat to apply it")
	}
	if !config.SameTelemetry(old.Telemetry, cfg.Telemetry) {
		// The exporter lives as long as the process, so its metrics stay
		// cumulative from one start time and no span is lost in a swap.
		return errors.New("reload: telemetry changed; restart moat to apply it")
	}
	if err := s.install(context.Background(), cfg); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	tlsByName := map[string]*config.TLS{}
	for _, l := range cfg.AllListeners() {
		tlsByName[l.Name] = l.TLS
	}
	if err := s.reloadCerts(tlsByName); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	return nil
}

func hasProxyProtocol(cfg *config.Config) bool {
	for _, l := range cfg.AllListeners() {
		if l.ProxyProtocol {
			return true
		}
	}
	return false
}

func sameListeners(a, b []config.Listener) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Address != b[i].Address || (a[i].TLS == nil) != (b[i].TLS == nil) ||
			a[i].ProxyProtocol != b[i].ProxyProtocol {
			return false
		}
		// Certificate files may change on reload (certSource follows
		// them); the handshake's other settings are fixed at bind.
		if a[i].TLS != nil && !sameHandshake(*a[i].TLS, *b[i].TLS) {
			return false
		}
	}
	return true
}

// Registry is the Server's Prometheus registry.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Store is the store: request log, identities, replicas.
func (s *Server) Store() store.Store { return s.store }

// Start binds every listener and serves in the background.
func (s *Server) Start() error {
	cfg := s.cfg.Load()
	for _, lc := range cfg.Listeners {
		if err := s.bind(cfg, lc, false, s.dataHandler(lc.Name)); err != nil {
			s.closeListeners()
			return err
		}
	}
	mgmt := s.managementHandler()
	for _, lc := range cfg.Management.Listeners {
		if err := s.bind(cfg, lc, true, s.guardNetwork(lc.Name, withListenerKind(lc.Kind, mgmt))); err != nil {
			s.closeListeners()
			return err
		}
	}
	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	go s.watchAssignments(bg)
	go s.watchIdentity(bg)
	go s.teams.Run(bg, 0)
	go s.enforceRetention(bg)
	s.started = s.now().UTC()
	go func() {
		s.heartbeat(bg, fleet.StateServing)
		s.runHeartbeat(bg)
	}()
	if rl, ok := s.limiter.(*ratelimit.Redis); ok {
		go rl.Run(bg) // epoch checks, re-seeds and merges between calls
	}
	for _, b := range s.servers {
		go func() {
			var err error
			if b.srv.TLSConfig != nil {
				err = b.srv.ServeTLS(b.ln, "", "")
			} else {
				err = b.srv.Serve(b.ln)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("listener stopped", "listener", b.name, "err", err)
			}
		}()
	}
	return nil
}

func (s *Server) bind(cfg *config.Config, lc config.Listener, mgmt bool, h http.Handler) error {
	ln, err := net.Listen("tcp", lc.Address)
	if err != nil {
		return fmt.Errorf("listen %s (%s): %w", lc.Name, lc.Address, err)
	}
	if lc.ProxyProtocol {
		// PROXY headers are read per connection before TLS, and believed
		// only from trusted proxies. Changing trusted_proxies needs a restart
		// for PROXY-protocol listeners (HTTP headers follow reloads).
		rules, err := cfg.NetworkRules()
		if err != nil {
			ln.Close()
			return err
		}
		ln = proxyproto.NewListener(ln, proxyproto.Options{Trusted: rules.TrustedProxies, Required: true, Logger: s.log})
	}
	b := &boundServer{name: lc.Name, mgmt: mgmt, ln: ln}
	b.srv = &http.Server{
		Handler:           s.closeWhileDraining(h),
		ConnState:         b.active.track,
		BaseContext:       func(net.Listener) context.Context { return s.base },
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          nil,
	}
	if lc.TLS != nil {
		if b.certs, b.srv.TLSConfig, err = s.listenerTLS(lc); err != nil {
			ln.Close()
			return err
		}
	}
	s.servers = append(s.servers, b)
	s.log.Info("listening", "listener", lc.Name, "address", ln.Addr().String(), "kind", lc.Kind,
		"management", mgmt, "tls", lc.TLS != nil)
	return nil
}

// Addr returns the bound address of the named listener ("" if none), so
// tests and the startup banner can use port 0.
func (s *Server) Addr(name string) string {
	for _, b := range s.servers {
		if b.name == name {
			return b.ln.Addr().String()
		}
	}
	return ""
}

// dataHandler serves the data plane on one listener.
func (s *Server) dataHandler(listener string) http.Handler {
	// Probes obey the network rules too: a public listener with public
	// access disabled does not even say that moat is there.
	probes := s.guardNetwork(listener, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			healthz(w)
		} else {
			s.readyz(w)
		}
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/readyz":
			probes.ServeHTTP(w, r)
			return
		}
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		s.pipe.Load().ServeHTTP(w, r, listener)
	})
}

// managementHandler serves the management plane.
func (s *Server) managementHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { healthz(w) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { s.readyz(w) })
	mux.HandleFunc("GET /status", s.serveStatus)
	if s.admin != nil {
		mux.Handle("/admin/", s.admin)
	}
	query, admit := s.mountObservability(mux)
	s.mountStudio(mux, query, admit)
	s.mountDebug(mux)
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, s.version)
	})
	return s.guardManagement(mux)
}

func healthz(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("draining\n"))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// closeWhileDraining ends each connection after its answer once the server
// drains, so clients holding a kept-alive connection come back through the
// load balancer, which no longer sends them here. Idle connections stay
// open until the listeners close after pre_stop, when the balancer has
// long stopped routing here: closing them when draining starts (as
// SetKeepAlivesEnabled(false) does) races a request sent on one just then,
// which the client sees as EOF and cannot retry, being a POST.
func (s *Server) closeWhileDraining(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// Shutdown drains the server in three steps, so that a load balancer never
// meets a refused connection and no call goes unlogged: for
// shutdown.pre_stop /readyz answers 503 "draining" while calls are still
// served; then the listeners close and calls and streams in flight get the
// grace period to finish; calls still running then are cut, logged with
// the kind gateway_shutdown, and the request log is flushed before the
// stores close.
func (s *Server) Shutdown(ctx context.Context) error {
	cfg := s.cfg.Load()
	// Answers now carry "Connection: close" (closeWhileDraining).
	s.draining.Store(true)
	// The fleet sees the replica draining; a slow store delays nothing.
	beat := make(chan struct{})
	go func() {
		defer close(beat)
		if len(s.servers) > 0 {
			s.heartbeat(ctx, fleet.StateDraining)
		}
	}()
	if d := cfg.Shutdown.PreStopD(); d > 0 && len(s.servers) > 0 {
		s.log.Info("draining: readyz reports not ready while calls are still served", "pre_stop", d.String())
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	if s.stop != nil {
		s.stop()
	}
	errs := []error{s.closeServers(ctx, cfg.Shutdown.GracePeriod.D())}
	s.sim.close()
	if p := s.pipe.Load(); p != nil {
		p.Close()
	}
	// The request log and telemetry flush side by side, each within its own
	// time limit, so a collector that hangs costs the log nothing.
	var telErr error
	var flushing sync.WaitGroup
	flushing.Go(func() { telErr = s.shutdownTelemetry(cfg) })
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelFlush()
	<-beat
	if len(s.servers) > 0 {
		s.heartbeat(flushCtx, fleet.StateStopped)
	}
	errs = append(errs, s.closeStores(flushCtx))
	flushing.Wait()
	if telErr != nil {
		// Telemetry lost at exit is logged, not a failed shutdown: the calls were served.
		s.log.Warn("telemetry not fully flushed at shutdown", "err", telErr)
	}
	if s.redis != nil {
		_ = s.redis.Close()
	}
	return errors.Join(errs...)
}

// shutdownTelemetry exports what is left within telemetry.timeout.
func (s *Server) shutdownTelemetry(cfg *config.Config) error {
	if s.tel == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Telemetry.Timeout.D())
	defer cancel()
	return s.tel.Shutdown(ctx)
}

func (s *Server) closeStores(ctx context.Context) error {
	var errs []error
	if s.writer != nil {
		if err := s.writer.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("flush request log: %w", err))
		}
	}
	if s.jsonl != nil {
		if err := s.jsonl.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (s *Server) closeListeners() {
	for _, b := range s.servers {
		b.ln.Close()
	}
	s.servers = nil
}

// registerRedisMetrics exports the shared limiter's health.
func (s *Server) registerRedisMetrics(rl *ratelimit.Redis) {
	s.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "moat_ratelimit_store_errors_total", Help: "Redis errors met by the rate limiter."},
			func() float64 { return float64(rl.Stats().StoreErrors) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "moat_ratelimit_store_down", Help: "1 while Redis is unreachable and limits run in their declared fallback."},
			func() float64 {
				if rl.Stats().StoreDown {
					return 1
				}
				return 0
			}),
		newRedisLimitCollector(rl, s.now),
	)
}

// registerLogMetrics exports the request-log writer's counters.
func (s *Server) registerLogMetrics() {
	w := s.writer
	s.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "moat_log_records_written_total", Help: "Request-log records written to the store."},
			func() float64 { return float64(w.Stats().Written) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "moat_log_records_dropped_total", Help: "Request-log records dropped because the queue was full or the store failed."},
			func() float64 { st := w.Stats(); return float64(st.Dropped + st.Failed) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "moat_log_queue_length", Help: "Request-log records waiting to be written."},
			func() float64 { return float64(w.Stats().QueueLen) }),
	)
	s.registerSpoolMetrics()
}
