package dataplane

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-gw/moat/internal/httpx"
)

// AnonymousLogPerSecond is how many calls refused before authentication
// (network denials, 401s) the request log keeps per second, per listener
// and error kind. Anyone who can open a socket can send such calls; at this
// rate a flood writes at most a few hundred KiB of log per second however
// fast it arrives, while moat_requests_total still counts every call.
const AnonymousLogPerSecond = 20

// refusedBeforeAuth reports whether a call ended before anyone was
// authenticated: these are the calls an anonymous client controls.
func refusedBeforeAuth(kind httpx.Kind, s *scope) bool {
	return s.caller == "" && (kind == httpx.KindPolicyNetwork || kind == httpx.KindClientAuth)
}

// rowSampler admits up to perSecond records per key in each second and
// counts the rest, so the next admitted record can say how many it stands for.
type rowSampler struct {
	perSecond int
	mu        sync.Mutex
	windows   map[string]*sampleWindow
}

type sampleWindow struct {
	second  int64
	logged  int
	skipped int // not logged since the last logged record
}

// admit reports whether a record for key is logged now and, if so, how many
// records for key were skipped since the last one logged.
func (r *rowSampler) admit(key string, now time.Time) (ok bool, skipped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.windows == nil {
		r.windows = map[string]*sampleWindow{}
	}
	w := r.windows[key]
	if w == nil {
		w = &sampleWindow{}
		r.windows[key] = w // keys are listener and kind: a closed set
	}
	if sec := now.Unix(); sec != w.second {
		w.second, w.logged = sec, 0
	}
	if w.logged >= r.perSecond {
		w.skipped++
		return false, 0
	}
	w.logged++
	skipped, w.skipped = w.skipped, 0
	return true, skipped
}

// sampleRefusal decides whether the record of a call refused before
// authentication is written. Calls not written are counted in
// moat_log_records_sampled_out_total; the next written record's
// ErrorMessage says how many it stands for.
func (p *Pipeline) sampleRefusal(s *scope, kind httpx.Kind, msg []string) ([]string, bool) {
	ok, skipped := p.anonRows.admit(s.listener+"|"+string(kind), p.now())
	if !ok {
		p.metrics.sampledOut.WithLabelValues(s.listener, string(kind)).Inc()
		return msg, false
	}
	if skipped > 0 {
		msg = append(msg, strconv.Itoa(skipped)+" similar calls not logged before this one (sampled)")
	}
	return msg, true
}

func newSampledOutMetric(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "moat_log_records_sampled_out_total",
		Help: "Calls refused before authentication (network denials, 401s) whose request-log record was not written because their listener and kind were over the logging rate; moat_requests_total counts them all.",
	}, []string{"listener", "error_kind"})
	reg.MustRegister(c)
	return c
}
