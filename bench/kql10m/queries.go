package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/moat-gw/moat/internal/dashboard"
	"github.com/moat-gw/moat/internal/kql"
	"github.com/moat-gw/moat/internal/logquery"
)

// benchQuery is one measured query. A dashboard query names a summary
// range instead of KQL and times dashboard.BuildSummary (all its panels).
type benchQuery struct {
	name      string
	kql       string
	dashboard string
	full      bool // a full-table scan, run only with -full
}

// queries are the common questions operators ask of the log, in the shape
// docs/observability.md teaches, plus one full-month scan for scale.
var queries = []benchQuery{
	{name: "tokens by caller and deployment, 24h", kql: `MoatGatewayLogs
| where TimeGenerated > ago(24h)
| summarize Tokens = sum(TotalTokens), Calls = count() by CallerId, DeploymentName
| order by Tokens desc`},
	{name: "tokens by caller and deployment, 7d", kql: `MoatGatewayLogs
| where TimeGenerated > ago(7d)
| summarize Tokens = sum(TotalTokens), Calls = count() by CallerId, DeploymentName
| order by Tokens desc`},
	{name: "429s per minute, last hour", kql: `MoatGatewayLogs
| where TimeGenerated > ago(1h) and ResponseCode == 429
| summarize Throttled = count() by bin(TimeGenerated, 1m)
| order by TimeGenerated asc`},
	{name: "latency p50/p95/p99 by deployment, 24h", kql: `MoatGatewayLogs
| where TimeGenerated > ago(24h)
| summarize percentiles(TotalTime, 50, 95, 99) by DeploymentName`},
	{name: "errors by reason, 24h", kql: `MoatGatewayLogs
| where TimeGenerated > ago(24h) and ResponseCode >= 400
| summarize Calls = count() by ResponseCode, LastErrorReason
| order by Calls desc`},
	{name: "recent calls (top 50 by time)", kql: `MoatGatewayLogs
| top 50 by TimeGenerated desc
| project TimeGenerated, CorrelationId, CallerId, DeploymentName, ResponseCode, TotalTime, TotalTokens`},
	{name: "recent calls (take 50)", kql: `MoatGatewayLogs | take 50`},
	{name: "calls per minute timechart, last hour", kql: `MoatGatewayLogs
| where TimeGenerated > ago(1h)
| summarize Calls = count() by bin(TimeGenerated, 1m)
| render timechart`},
	{name: "one caller's calls per hour, 24h", kql: `MoatGatewayLogs
| where TimeGenerated > ago(24h) and CallerId == "key-app03"
| summarize Calls = count(), Tokens = sum(TotalTokens) by bin(TimeGenerated, 1h)`},
	{name: "one caller's latest 20 calls, 7d", kql: `MoatGatewayLogs
| where TimeGenerated > ago(7d) and CallerId == "key-app03"
| top 20 by TimeGenerated desc
| project TimeGenerated, CorrelationId, DeploymentName, ResponseCode, TotalTokens`},
	{name: "dashboard summary, 1h (7 queries)", dashboard: "1h"},
	{name: "dashboard summary, 24h (7 queries)", dashboard: "24h"},
	{name: "dashboard summary, 7d (7 queries)", dashboard: "7d"},
	{name: "tokens by deployment, 30d (full scan)", full: true, kql: `MoatGatewayLogs
| where TimeGenerated > ago(30d)
| summarize Tokens = sum(TotalTokens) by DeploymentName`},
}

// measurement is one query's timings on one store and index set.
type measurement struct {
	store string
	mode  string // "log only" or "rollup"
	query string
	rows  int
	runs  []time.Duration
	cpu   []time.Duration // this process's CPU time per run: SQLite's work, whatever else the machine runs
	err   error
	// timedOut says the query ran past the timeout (runs is empty).
	timedOut bool
}

func (m measurement) median() time.Duration { return median(m.runs) }

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func (m measurement) fastest() time.Duration {
	if len(m.runs) == 0 {
		return 0
	}
	return slices.Min(m.runs)
}

// slowRun is how long a warm-up run may take before the query counts as
// slow: it is then measured by that one run, to keep the benchmark bounded.
const slowRun = 5 * time.Second

// timeQueries runs every selected query once to warm the caches and then
// o.runs times, on db at the instant now (the newest record). A query that
// runs past o.timeout is reported as such.
func timeQueries(ctx context.Context, o options, out io.Writer, store, mode string, db *sql.DB, d kql.Dialect, now time.Time, opts kql.Options) []measurement {
	runner := &logquery.Runner{DB: db, Dialect: d, Timeout: o.timeout, Now: func() time.Time { return now }, Options: opts}
	var ms []measurement
	for _, q := range queries {
		if (o.only != "" && !strings.Contains(q.name, o.only)) || (q.full && !o.full) {
			continue
		}
		m := measurement{store: store, mode: mode, query: q.name}
		for i := 0; i <= o.runs && m.err == nil; i++ {
			start, startCPU := time.Now(), cpuTime()
			var n int
			if q.dashboard != "" {
				qctx, cancel := context.WithTimeout(ctx, o.timeout)
				var s *dashboard.Summary
				s, m.err = dashboard.BuildSummary(qctx, runner.Query, q.dashboard, now)
				cancel()
				if s != nil {
					n = len(s.Timeline)
				}
			} else {
				var r *logquery.Result
				r, m.err = runner.Query(ctx, q.kql)
				if r != nil {
					n = len(r.Rows)
				}
			}
			took, cpu := time.Since(start), cpuTime()-startCPU
			m.rows = n
			if i > 0 || (m.err == nil && took > slowRun) {
				m.runs = append(m.runs, took)
				m.cpu = append(m.cpu, cpu)
			}
			if i == 0 && took > slowRun {
				break
			}
		}
		var te *logquery.TimeoutError
		switch {
		case errors.As(m.err, &te) || errors.Is(m.err, context.DeadlineExceeded):
			m.err, m.timedOut = nil, true
			fmt.Fprintf(out, "  %-42s over %v\n", q.name, o.timeout)
		case m.err != nil:
			fmt.Fprintf(out, "  %-42s error: %v\n", q.name, m.err)
		default:
			fmt.Fprintf(out, "  %-42s median %8s  fastest %8s  cpu %8s  (%d runs, %d rows)\n", q.name, ms2(m.median()),
				ms2(m.fastest()), ms2(median(m.cpu)), len(m.runs), m.rows)
		}
		ms = append(ms, m)
	}
	return ms
}

// explain prints the plan of each KQL query, to find what an index
// would change.
func explain(ctx context.Context, out io.Writer, db *sql.DB, d kql.Dialect, now time.Time, opts kql.Options) error {
	for _, q := range queries {
		if q.kql == "" {
			continue
		}
		c, err := kql.CompileOptions(q.kql, d, now, opts)
		if err != nil {
			return err
		}
		prefix := "EXPLAIN QUERY PLAN "
		if d == kql.Postgres {
			prefix = "EXPLAIN "
		}
		rows, err := db.QueryContext(ctx, prefix+c.SQL, c.Args...)
		if err != nil {
			return fmt.Errorf("explain %s: %w", q.name, err)
		}
		fmt.Fprintf(out, "\n-- %s\n%s\n", q.name, c.SQL)
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return err
			}
			fmt.Fprintf(out, "   %v\n", vals[len(vals)-1])
		}
		rows.Close()
	}
	return nil
}

// cpuTime is the CPU time this process has used. For SQLite, which runs
// inside it, the difference over a query is the query's own work, apart
// from what other programs on a shared machine take.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms2(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

// writeTable prints the results as markdown: one row per query, a column
// pair per store and index set.
func writeTable(out io.Writer, o options, ms []measurement) {
	type key struct{ store, mode string }
	var cols []key
	cell := map[key]map[string]measurement{}
	for _, m := range ms {
		k := key{m.store, m.mode}
		if cell[k] == nil {
			cell[k] = map[string]measurement{}
			cols = append(cols, k)
		}
		cell[k][m.query] = m
	}
	fmt.Fprintf(out, "%d rows over %d days; median wall time (fastest; for SQLite, median CPU time of the\n"+
		"query in this process) of %d runs after a warm-up run; a query whose warm-up run took over %v\n"+
		"is reported by that one run.\n\n", o.rows, o.days, o.runs, slowRun)
	fmt.Fprint(out, "| Query |")
	for _, k := range cols {
		fmt.Fprintf(out, " %s (%s) |", k.store, k.mode)
	}
	fmt.Fprint(out, " Rows |\n|---|")
	for range cols {
		fmt.Fprint(out, "---:|")
	}
	fmt.Fprintln(out, "---:|")
	for _, q := range queries {
		rows, seen := 0, false
		var line strings.Builder
		for _, k := range cols {
			m, ok := cell[k][q.name]
			seen = seen || ok
			switch {
			case !ok:
				line.WriteString(" – |")
			case m.err != nil:
				line.WriteString(" error |")
			case m.timedOut:
				fmt.Fprintf(&line, " > %v |", o.timeout)
			case k.store == "SQLite":
				fmt.Fprintf(&line, " %s (cpu %s) |", ms2(m.median()), ms2(median(m.cpu)))
				rows = m.rows
			case len(m.runs) == 1:
				fmt.Fprintf(&line, " %s (1 run) |", ms2(m.median()))
				rows = m.rows
			default:
				fmt.Fprintf(&line, " %s (%s) |", ms2(m.median()), ms2(m.fastest()))
				rows = m.rows
			}
		}
		if !seen {
			continue
		}
		fmt.Fprintf(out, "| %s |%s %d |\n", q.name, line.String(), rows)
	}
}
