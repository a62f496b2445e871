package gateway

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-gw/moat/internal/config"
	"github.com/moat-gw/moat/internal/reqlog"
)

// openJSONLines starts the request log's JSON-lines copy when log.jsonl
// is configured.
func (s *Server) openJSONLines(cfg *config.Config) error {
	if cfg.Log.JSONL == nil {
		return nil
	}
	out, err := reqlog.OpenJSONLinesFile(cfg.Log.JSONL.Path)
	if err != nil {
		return err
	}
	j := reqlog.NewJSONLines(out, cfg.Log.QueueSize, s.log.With("component", "jsonl"))
	s.jsonl = j
	s.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "moat_log_jsonl_records_written_total",
			Help: "Request-log records written as JSON lines (log.jsonl)."}, func() float64 { return float64(j.Stats().Written) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "moat_log_jsonl_records_dropped_total",
			Help: "Request-log records not written as JSON lines: queue full or write failed."},
			func() float64 { st := j.Stats(); return float64(st.Dropped + st.Failed) }),
	)
	return nil
}

// logRecord hands a finished call to the store writer and to the JSON-lines copy.
func (s *Server) logRecord(r reqlog.Record) {
	s.writer.Log(r)
	if s.jsonl != nil {
		s.jsonl.Log(r)
	}
}

func sameJSONL(a, b *config.JSONL) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
