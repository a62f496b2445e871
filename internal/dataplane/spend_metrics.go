package dataplane

import "github.com/prometheus/client_golang/prometheus"

// spendMetrics count what calls cost and what budgets did. Labels are
// deployment names (config), team names (created by operators, a narrow
// alphabet), budget names (config) and budget instances (a team name, a
// key ID, which is not secret, or a deployment), never client input.
type spendMetrics struct {
	cost     *prometheus.CounterVec
	unpriced *prometheus.CounterVec
	denied   *prometheus.CounterVec
	warnings *prometheus.CounterVec
	used     *prometheus.GaugeVec
	webhook  *prometheus.CounterVec
}

func newSpendMetrics(reg prometheus.Registerer) *spendMetrics {
	m := &spendMetrics{
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_cost_total",
			Help: "What calls cost at the configured prices, by deployment, team and currency.",
		}, []string{"deployment", "team", "currency"}),
		unpriced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_cost_unpriced_calls_total",
			Help: "Calls to deployments whose model has no price (logged with cost 0).",
		}, []string{"deployment"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_budget_denials_total",
			Help: "Calls refused because a budget was exhausted, by budget.",
		}, []string{"budget"}),
		warnings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_budget_warnings_total",
			Help: "Budget instances that crossed their warning threshold, by budget (once per period and replica).",
		}, []string{"budget"}),
		used: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "moat_budget_used_ratio",
			Help: "Fraction of the budget used in the current period, as this replica last saw it, by budget, instance and unit (cost or tokens).",
		}, []string{"budget", "instance", "unit"}),
		webhook: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_budget_webhook_posts_total",
			Help: "Budget warning webhook posts, by result (ok, error).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.cost, m.unpriced, m.denied, m.warnings, m.used, m.webhook)
	return m
}
