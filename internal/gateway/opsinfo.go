package gateway

import (
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-gw/moat/internal/config"
)

// reloads counts config reloads for the metrics and /status, because a
// reload that failed keeps the old config running and is otherwise silent
// to everyone who does not read the log.
type reloads struct {
	mu        sync.Mutex
	ok, fail  int
	last      time.Time // last attempt
	lastOK    time.Time
	lastError string
}

// ReloadStatus is the reload part of /status.
type ReloadStatus struct {
	Succeeded   int       `json:"succeeded"`
	Failed      int       `json:"failed"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
}

// RecordReload counts a reload attempt that failed before reaching Reload
// (the file did not load). Reload records its own outcome.
func (s *Server) RecordReload(err error) {
	s.reloads.mu.Lock()
	defer s.reloads.mu.Unlock()
	now := s.now()
	s.reloads.last = now
	if err != nil {
		s.reloads.fail++
		s.reloads.lastError = err.Error()
		return
	}
	s.reloads.ok++
	s.reloads.lastOK = now
	s.reloads.lastError = ""
}

// ReloadStatus reports the reload counters.
func (s *Server) ReloadStatus() ReloadStatus {
	s.reloads.mu.Lock()
	defer s.reloads.mu.Unlock()
	return ReloadStatus{Succeeded: s.reloads.ok, Failed: s.reloads.fail, LastAttempt: s.reloads.last,
		LastSuccess: s.reloads.lastOK, LastError: s.reloads.lastError}
}

// BuildInfo describes the running binary.
type BuildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
}

func (s *Server) buildInfo() BuildInfo {
	return BuildInfo{Version: s.version, Commit: s.commit, GoVersion: runtime.Version()}
}

// registerOpsMetrics exports the build and the reload counters.
func (s *Server) registerOpsMetrics() {
	bi := s.buildInfo()
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "moat_build_info",
		Help:        "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "commit": bi.Commit, "go_version": bi.GoVersion}})
	build.Set(1)
	result := func(ok bool) float64 {
		r := s.ReloadStatus()
		if ok {
			return float64(r.Succeeded)
		}
		return float64(r.Failed)
	}
	s.reg.MustRegister(build,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "moat_config_reloads_total", Help: "Config reloads, by result.",
			ConstLabels: prometheus.Labels{"result": "success"}}, func() float64 { return result(true) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "moat_config_reloads_total", Help: "Config reloads, by result.",
			ConstLabels: prometheus.Labels{"result": "failure"}}, func() float64 { return result(false) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "moat_config_last_reload_success_timestamp_seconds",
			Help: "When the config was last loaded successfully (start or reload), as a Unix time."},
			func() float64 { return float64(s.ReloadStatus().LastSuccess.UnixNano()) / 1e9 }),
		newCertExpiryCollector(s),
	)
}

// reloadCerts re-reads every TLS listener's certificate (SIGHUP), following
// a changed cert_file or key_file. A pair that does not load keeps the old
// one serving.
func (s *Server) reloadCerts(listeners map[string]*config.TLS) error {
	var errs []error
	for _, b := range s.servers {
		if b.certs == nil {
			continue
		}
		if t := listeners[b.name]; t != nil {
			b.certs.setFiles(t.CertFile, t.KeyFile)
		}
		if err := b.certs.reload(true); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
