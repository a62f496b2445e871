package gateway

import "github.com/prometheus/client_golang/prometheus"

// registerSpoolMetrics exports the request-log spool's counters: what waited
// on disk while the store failed, and what came back from it.
func (s *Server) registerSpoolMetrics() {
	w := s.writer
	s.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "moat_log_records_spooled_total", Help: "Request-log records journaled while the store was failing, to be replayed."},
			func() float64 { return float64(w.Stats().Spooled) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "moat_log_records_replayed_total", Help: "Request-log records written to the store from the spool after a store failure or a restart."},
			func() float64 { return float64(w.Stats().Replayed) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "moat_log_spool_dropped_total", Help: "Request-log records dropped because the spool was full or its disk failed (also in moat_log_records_dropped_total)."},
			func() float64 { return float64(w.Stats().SpoolDropped) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "moat_log_spool_bytes", Help: "Size of the request-log spool on disk."},
			func() float64 { return float64(w.Stats().SpoolBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "moat_log_spool_damaged_segments", Help: "Request-log spool segments found with a cut-off or corrupt tail, whose rest was skipped."},
			func() float64 { return float64(w.Stats().SpoolDamaged) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "moat_log_spooling", Help: "1 while the request-log store is failing and records wait in the spool."},
			func() float64 {
				if w.Stats().Spooling {
					return 1
				}
				return 0
			}),
	)
}
