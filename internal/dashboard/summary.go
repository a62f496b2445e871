package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/logquery"
	"github.com/moat-gw/moat/internal/openai"
)

// window is a time range the summary covers and the bucket size of its
// time series.
type window struct {
	name string
	span time.Duration
	bin  time.Duration
}

// windows are the ranges the page offers; the first is the default.
var windows = []window{
	{"1h", time.Hour, time.Minute},
	{"24h", 24 * time.Hour, 15 * time.Minute},
	{"7d", 7 * 24 * time.Hour, 2 * time.Hour},
}

// recentCalls is how many calls the recent-calls panel lists.
const recentCalls = 50

// topN bounds the by-deployment and by-caller panels.
const topN = 20

// Summary is the document behind the page's panels. Every figure comes
// from the KQL in Queries, run over [Start, Now].
type Summary struct {
	Now        time.Time `json:"now"`
	Start      time.Time `json:"start"`
	Range      string    `json:"range"`
	Bin        string    `json:"bin"`
	BinSeconds int64     `json:"bin_seconds"`

	Totals              Totals        `json:"totals"`
	Timeline            []Point       `json:"timeline"`
	TokensByDeployment  []TokenRow    `json:"tokens_by_deployment"`
	TokensByCaller      []TokenRow    `json:"tokens_by_caller"`
	TokensByReplica     []TokenRow    `json:"tokens_by_replica"`
	ErrorsByReason      []ReasonRow   `json:"errors_by_reason"`
	LatencyByDeployment []LatencyRow  `json:"latency_by_deployment"`
	Recent              logquery.Wire `json:"recent"`
	// Spend is the chargeback of the window: calls, tokens and cost by
	// team and model, and the price versions that priced them
	// (package report, the same query as moat report usage).
	Spend         logquery.Wire     `json:"spend"`
	SpendVersions []string          `json:"spend_versions"`
	SpendTotal    float64           `json:"spend_total"`
	Queries       map[string]string `json:"queries"`
}

// Totals are the headline figures of the window.
type Totals struct {
	Calls            int64 `json:"calls"`
	Throttled        int64 `json:"throttled"` // answered 429
	Errors           int64 `json:"errors"`    // answered 4xx or 5xx other than 429
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
	Callers          int64 `json:"callers"`
}

// Point is one bucket of the time series; buckets without calls are
// present with zeros, so charts have a steady axis.
type Point struct {
	Time      time.Time `json:"t"`
	Calls     int64     `json:"calls"`
	Throttled int64     `json:"throttled"`
	Errors    int64     `json:"errors"`
}

// TokenRow is the token use of one deployment or caller.
type TokenRow struct {
	Name             string `json:"name"`
	Calls            int64  `json:"calls"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	TotalTokens      int64  `json:"total_tokens"`
}

// ReasonRow counts failed calls by status and error kind.
type ReasonRow struct {
	Status int64  `json:"status"`
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

// LatencyRow is the latency of one deployment's successful calls.
type LatencyRow struct {
	Name  string  `json:"name"`
	Calls int64   `json:"calls"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
}

// badRange is the answer to an unknown ?range.
var badRange = httpx.New(http.StatusBadRequest, httpx.KindClientBadRequest,
	openai.FrontDoorError("BadRequest", "range must be one of 1h, 24h, 7d."), nil)

func (d *dashboard) summary(r *http.Request) (any, error) {
	win := windows[0]
	if name := r.URL.Query().Get("range"); name != "" {
		found := false
		for _, w := range windows {
			if w.name == name {
				win, found = w, true
			}
		}
		if !found {
			return nil, badRange
		}
	}
	return BuildSummary(r.Context(), d.o.Query, win.name, d.o.Now())
}

// BuildSummary runs the panels' queries for the window named rangeName
// ("1h", "24h" or "7d") ending at now. The window starts on a bucket
// boundary, so that its first bucket is whole and the last is the current
// one. The queries run concurrently.
func BuildSummary(ctx context.Context, query func(context.Context, string) (*logquery.Result, error), rangeName string, now time.Time) (*Summary, error) {
	var win window
	for _, w := range windows {
		if w.name == rangeName {
			win = w
		}
	}
	if win.name == "" {
		return nil, fmt.Errorf("unknown range %q", rangeName)
	}
	now = now.UTC()
	start := now.Truncate(win.bin).Add(win.bin - win.span)
	s := &Summary{Now: now, Start: start, Range: win.name, Bin: kqlSpan(win.bin),
		BinSeconds: int64(win.bin / time.Second), Queries: map[string]string{}}
	from := fmt.Sprintf("MoatGatewayLogs\n| where TimeGenerated >= datetime(%s)\n", start.Format(time.RFC3339))

	panels := []struct {
		key   string
		kql   string
		apply func(*logquery.Result) error
	}{
		{"totals", from + `| summarize Calls = count(), Throttled = countif(ResponseCode == 429),
    Errors = countif(ResponseCode >= 400 and ResponseCode != 429),
    PromptTokens = sum(PromptTokens), CompletionTokens = sum(CompletionTokens),
    TotalTokens = sum(TotalTokens), Callers = dcount(CallerId)`,
			func(r *logquery.Result) error { return s.applyTotals(r) }},
		{"timeline", from + fmt.Sprintf(`| summarize Calls = count(), Throttled = countif(ResponseCode == 429),
    Errors = countif(ResponseCode >= 400 and ResponseCode != 429) by bin(TimeGenerated, %s)
| order by TimeGenerated asc
| render timechart`, kqlSpan(win.bin)),
			func(r *logquery.Result) error { return s.applyTimeline(r, win) }},
		{"tokens_by_deployment", from + tokensBy("DeploymentName"),
			func(r *logquery.Result) (err error) { s.TokensByDeployment, err = tokenRows(r); return err }},
		// Callers by the key's name (its ID after it, as names need not
		// be unique), or the principal's ID for token callers.
		{"tokens_by_caller", from + tokensBy(`iff(isempty(KeyName), CallerId, strcat(KeyName, " (", CallerId, ")"))`),
			func(r *logquery.Result) (err error) { s.TokensByCaller, err = tokenRows(r); return err }},
		// Calls per replica show a load balancer's spread, and a replica
		// that takes no traffic.
		{"tokens_by_replica", from + tokensBy("Replica"),
			func(r *logquery.Result) (err error) { s.TokensByReplica, err = tokenRows(r); return err }},
		{"errors_by_reason", from + fmt.Sprintf(`| where ResponseCode >= 400
| summarize Count = count() by ResponseCode, LastErrorReason
| top %d by Count desc`, topN),
			func(r *logquery.Result) error { return s.applyReasons(r) }},
		{"latency_by_deployment", from + `| where ResponseCode between (200 .. 399)
| summarize Calls = count(), (P50, P95) = percentiles(TotalTime, 50, 95) by DeploymentName
| order by Calls desc`,
			func(r *logquery.Result) error { return s.applyLatency(r) }},
		{"spend", spendQuery(start, now),
			func(r *logquery.Result) error { s.applySpend(r, start, now); return nil }},
		// Bounded by the window like the rest, so that the sort stays small
		// whatever indexes the store has.
		{"recent", from + fmt.Sprintf(`| top %d by TimeGenerated desc
| project TimeGenerated, CorrelationId, CallerId, KeyName, Team, DeploymentName, OperationName,
    ResponseCode, LastErrorReason, TotalTime, TotalTokens, IsStreamCompletion, Replica`, recentCalls),
			func(r *logquery.Result) error { s.Recent = logquery.ToWire(r); return nil }},
	}

	results := make([]*logquery.Result, len(panels))
	errs := make([]error, len(panels))
	var wg sync.WaitGroup
	for i, p := range panels {
		s.Queries[p.key] = p.kql
		wg.Go(func() { results[i], errs[i] = query(ctx, p.kql) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i, p := range panels {
		if err := p.apply(results[i]); err != nil {
			return nil, fmt.Errorf("summary panel %s: %w", p.key, err)
		}
	}
	return s, nil
}

// tokensBy summarizes token use by one column, largest first.
func tokensBy(col string) string {
	return fmt.Sprintf(`| summarize Calls = count(), PromptTokens = sum(PromptTokens),
    CompletionTokens = sum(CompletionTokens), TotalTokens = sum(TotalTokens) by Name = %s
| top %d by TotalTokens desc`, col, topN)
}

// kqlSpan writes d as a KQL timespan literal.
func kqlSpan(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
