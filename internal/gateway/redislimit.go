package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-gw/moat/internal/ratelimit"
)

// driftFresh is how long after its last sighting a limit drift still
// counts as current in moat_ratelimit_limit_drift.
const driftFresh = 2 * time.Minute

// redisLimitCollector exports what the shared limiter does about Redis
// outages and config drift between replicas.
type redisLimitCollector struct {
	rl  *ratelimit.Redis
	now func() time.Time

	drift, reseeds, merges, holds *prometheus.Desc
}

func newRedisLimitCollector(rl *ratelimit.Redis, now func() time.Time) *redisLimitCollector {
	return &redisLimitCollector{rl: rl, now: now,
		drift: prometheus.NewDesc("moat_ratelimit_limit_drift",
			"1 while another replica enforces a different limit for this rule (seen in Redis in the last 2 minutes), else 0.",
			[]string{"rule"}, nil),
		reseeds: prometheus.NewDesc("moat_ratelimit_reseeds_total",
			"Times this replica put its part of the windows back into a Redis that had lost them.", nil, nil),
		merges: prometheus.NewDesc("moat_ratelimit_merges_total",
			"Times this replica merged admissions made while Redis was away into Redis.", nil, nil),
		holds: prometheus.NewDesc("moat_ratelimit_hold_calls_total",
			"Calls that took their on_redis_down path while replicas re-seeded Redis.", nil, nil),
	}
}

func (c *redisLimitCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.drift
	ch <- c.reseeds
	ch <- c.merges
	ch <- c.holds
}

func (c *redisLimitCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for _, d := range c.rl.Drifts() {
		v := 0.0
		if now.Sub(d.Seen) < driftFresh {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.drift, prometheus.GaugeValue, v, d.Rule)
	}
	st := c.rl.Stats()
	ch <- prometheus.MustNewConstMetric(c.reseeds, prometheus.CounterValue, float64(st.Reseeds))
	ch <- prometheus.MustNewConstMetric(c.merges, prometheus.CounterValue, float64(st.Merges))
	ch <- prometheus.MustNewConstMetric(c.holds, prometheus.CounterValue, float64(st.Holds))
}
