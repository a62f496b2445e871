package kql

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/moat-gw/moat/internal/reqlog"
)

// execCase is a query run on both databases. want, when set, computes the
// expected rows from the dataset in Go; ordered says the row order is part
// of the result.
type execCase struct {
	name    string
	query   string
	ordered bool
	want    func(recs []reqlog.Record) [][]any
}

var hasChat = regexp.MustCompile(`(^|[^a-z0-9])chat([^a-z0-9]|$)`)

var execCases = []execCase{
	{name: "count", query: `MoatGatewayLogs | count`,
		want: countWhere(func(reqlog.Record) bool { return true })},
	{name: "take", query: `MoatGatewayLogs | take 3 | count`,
		want: func([]reqlog.Record) [][]any { return [][]any{{int64(3)}} }},
	{name: "tokens per caller and deployment", ordered: true, query: `ApiManagementGatewayLlmLog
		| where DeploymentName != ''
		| project SubscriptionId = CallerId, DeploymentName, ModelName, TotalTokens
		| summarize SumTotalTokens = sum(TotalTokens) by SubscriptionId, DeploymentName, ModelName
		| order by SumTotalTokens desc, SubscriptionId asc, DeploymentName asc`,
		want: func(recs []reqlog.Record) [][]any {
			var with []reqlog.Record
			for _, r := range recs {
				if r.Deployment != "" {
					with = append(with, r)
				}
			}
			keys, m := groupBy(with, func(r reqlog.Record) string { return r.Caller + "|" + r.Deployment + "|" + r.Model })
			var out [][]any
			for _, k := range keys {
				sum := int64(0)
				for _, r := range m[k] {
					sum += int64(r.TotalTokens)
				}
				f := strings.Split(k, "|")
				out = append(out, []any{f[0], f[1], f[2], sum})
			}
			sort.SliceStable(out, func(i, j int) bool {
				a, b := out[i], out[j]
				if a[3] != b[3] {
					return a[3].(int64) > b[3].(int64)
				}
				if a[0] != b[0] {
					return a[0].(string) < b[0].(string)
				}
				return a[1].(string) < b[1].(string)
			})
			return out
		}},
	{name: "errors by reason", query: `ApiManagementGatewayLogs
		| where TimeGenerated > ago(24h) and ResponseCode >= 400
		| summarize ErrorCount = count() by ResponseCode, LastErrorReason
		| order by ErrorCount desc`,
		want: func(recs []reqlog.Record) [][]any {
			var errs []reqlog.Record
			for _, r := range recent(recs, 24*time.Hour) {
				if r.Status >= 400 {
					errs = append(errs, r)
				}
			}
			keys, m := groupBy(errs, func(r reqlog.Record) string { return fmt.Sprint(r.Status, "|", r.ErrorKind) })
			var out [][]any
			for _, k := range keys {
				r := m[k][0]
				out = append(out, []any{int64(r.Status), r.ErrorKind, int64(len(m[k]))})
			}
			return out
		}},
	{name: "429s per minute", ordered: true, query: `MoatGatewayLogs
		| where TimeGenerated > ago(1h) and ResponseCode == 429
		| summarize Throttled = count() by bin(TimeGenerated, 1m)
		| order by TimeGenerated asc`,
		want: func(recs []reqlog.Record) [][]any {
			var th []reqlog.Record
			for _, r := range recent(recs, time.Hour) {
				if r.Status == 429 {
					th = append(th, r)
				}
			}
			keys, m := groupBy(th, func(r reqlog.Record) string { return r.Time.Truncate(time.Minute).Format(time.RFC3339) })
			sort.Strings(keys)
			var out [][]any
			for _, k := range keys {
				out = append(out, []any{m[k][0].Time.Truncate(time.Minute), int64(len(m[k]))})
			}
			return out
		}},
	{name: "latency percentiles by deployment", query: `MoatGatewayLogs
		| where TimeGenerated > ago(1d)
		| summarize percentiles(TotalTime, 0, 50, 95, 100), p = percentile(TotalTokens, 90), n = count() by DeploymentName`,
		want: func(recs []reqlog.Record) [][]any {
			keys, m := groupBy(recent(recs, 24*time.Hour), func(r reqlog.Record) string { return r.Deployment })
			var out [][]any
			for _, k := range keys {
				var ms, tok []float64
				for _, r := range m[k] {
					ms = append(ms, r.TotalMs)
					tok = append(tok, float64(r.TotalTokens))
				}
				out = append(out, []any{k, percentileCont(ms, 0), percentileCont(ms, 50), percentileCont(ms, 95),
					percentileCont(ms, 100), percentileCont(tok, 90), int64(len(ms))})
			}
			return out
		}},
	{name: "percentile without groups", query: `MoatGatewayLogs | summarize (a, b) = percentiles(FirstByteTime, 25, 75.5)`,
		want: func(recs []reqlog.Record) [][]any {
			var v []float64
			for _, r := range recs {
				v = append(v, r.FirstByteMs)
			}
			return [][]any{{percentileCont(v, 25), percentileCont(v, 75.5)}}
		}},
	{name: "backend health", query: `ApiManagementGatewayLogs
		| where TimeGenerated > ago(1h) and BackendId != ""
		| summarize TotalRequests = count(), Failed = countif(BackendResponseCode >= 400), Throttled = countif(BackendResponseCode == 429) by BackendId
		| extend SuccessRate = round(100.0 * (TotalRequests - Failed) / TotalRequests, 2)`,
		want: func(recs []reqlog.Record) [][]any {
			keys, m := groupBy(recent(recs, time.Hour), func(r reqlog.Record) string { return r.Upstream })
			var out [][]any
			for _, k := range keys {
				var total, failed, throttled int64
				for _, r := range m[k] {
					total++
					if r.UpstreamStatus >= 400 {
						failed++
					}
					if r.UpstreamStatus == 429 {
						throttled++
					}
				}
				rate := math.Round(100*float64(total-failed)/float64(total)*100) / 100
				out = append(out, []any{k, total, failed, throttled, rate})
			}
			return out
		}},
	{name: "top", ordered: true, query: `MoatGatewayLogs | top 4 by TotalTokens desc | project CorrelationId, TotalTokens`,
		want: func(recs []reqlog.Record) [][]any {
			s := append([]reqlog.Record(nil), recs...)
			sort.Slice(s, func(i, j int) bool { return s[i].TotalTokens > s[j].TotalTokens })
			var out [][]any
			for _, r := range s[:4] {
				out = append(out, []any{r.RequestID, int64(r.TotalTokens)})
			}
			return out
		}},
	{name: "order survives where after take", ordered: true, query: `MoatGatewayLogs
		| sort by TotalTime asc | take 10 | project CorrelationId, CallerId | where CallerId != "anonymous"`,
		want: func(recs []reqlog.Record) [][]any {
			s := append([]reqlog.Record(nil), recs...)
			sort.Slice(s, func(i, j int) bool { return s[i].TotalMs < s[j].TotalMs })
			var out [][]any
			for _, r := range s[:10] {
				if r.Caller != "anonymous" {
					out = append(out, []any{r.RequestID, r.Caller})
				}
			}
			return out
		}},
	{name: "distinct", query: `MoatGatewayLogs | where ResponseCode >= 400 | distinct LastErrorReason`,
		want: func(recs []reqlog.Record) [][]any {
			seen := map[string]bool{}
			var out [][]any
			for _, r := range recs {
				if r.Status >= 400 && !seen[r.ErrorKind] {
					seen[r.ErrorKind] = true
					out = append(out, []any{r.ErrorKind})
				}
			}
			return out
		}},
	{name: "has", query: `MoatGatewayLogs | where Url has "chat" | count`,
		want: countWhere(func(r reqlog.Record) bool { return hasChat.MatchString(strings.ToLower(r.Path)) })},
	{name: "has is not a substring match", query: `MoatGatewayLogs | where Url has "chat/compl" or Url has "embedding" | count`,
		want: func([]reqlog.Record) [][]any { return [][]any{{int64(0)}} }},
	{name: "has at both ends", query: `MoatGatewayLogs | where CorrelationId has "req" and ApiVersion has "21" | count`,
		want: countWhere(func(reqlog.Record) bool { return true })},
	{name: "contains is case-insensitive", query: `MoatGatewayLogs | where Url contains "EMBED" and Url !contains "CHAT" | count`,
		want: countWhere(func(r reqlog.Record) bool { return strings.Contains(r.Path, "embed") })},
	{name: "contains_cs", query: `MoatGatewayLogs | where CallerId contains_cs "OID" | count`,
		want: countWhere(func(r reqlog.Record) bool { return strings.Contains(r.Caller, "OID") })},
	{name: "startswith endswith", query: `MoatGatewayLogs | where DeploymentName startswith "GPT" and ModelName endswith "MINI" | count`,
		want: countWhere(func(r reqlog.Record) bool { return r.Model == "gpt-4o-mini" })},
	{name: "endswith longer than value", query: `MoatGatewayLogs | where Method endswith "XPOST" or Method !endswith "" | count`,
		want: func([]reqlog.Record) [][]any { return [][]any{{int64(0)}} }},
	{name: "equality case", query: `MoatGatewayLogs | where CallerId == "entra-oid-1" | count`,
		want: func([]reqlog.Record) [][]any { return [][]any{{int64(0)}} }},
	// The SQLite dataset's caller index holds the older half of the ids
	// (indexCallers): these find rows through it and past it.
	{name: "caller index and the rows past it", query: `MoatGatewayLogs | where CallerId == "key-b" | project CorrelationId`,
		want: idsWhere(func(r reqlog.Record) bool { return r.Caller == "key-b" })},
	{name: "caller index within a time range", query: `MoatGatewayLogs
		| where TimeGenerated > ago(40m) and "key-a" == CallerId and TimeGenerated <= ago(5m)
		| project CorrelationId`,
		want: idsWhere(func(r reqlog.Record) bool {
			return r.Caller == "key-a" && r.Time.After(testNow.Add(-40*time.Minute)) && !r.Time.After(testNow.Add(-5*time.Minute))
		})},
	{name: "caller index and between", query: `MoatGatewayLogs
		| where CallerId == "Entra-OID-1" and TimeGenerated between (ago(50m) .. ago(20m)) and (ResponseCode == 200 or Attempts > 1)
		| project CorrelationId`,
		want: idsWhere(func(r reqlog.Record) bool {
			return r.Caller == "Entra-OID-1" && (r.Status == 200 || r.Attempts > 1) &&
				!r.Time.Before(testNow.Add(-50*time.Minute)) && !r.Time.After(testNow.Add(-20*time.Minute))
		})},
	{name: "caller under or", query: `MoatGatewayLogs
		| where CallerId == "Entra-OID-1" and TimeGenerated between (ago(50m) .. ago(20m)) or CallerId == "key-a"
		| project CorrelationId`,
		want: idsWhere(func(r reqlog.Record) bool {
			return r.Caller == "key-a" || r.Caller == "Entra-OID-1" &&
				!r.Time.Before(testNow.Add(-50*time.Minute)) && !r.Time.After(testNow.Add(-20*time.Minute))
		})},
	// Record 5 (key-b, in the index) is 368 s old and record 1 (key-b too)
	// 84 s: the index's time bounds must keep a row on an inclusive bound
	// and drop one on an exclusive bound, as the predicate does.
	{name: "caller index, inclusive lower bound", query: `MoatGatewayLogs | where CallerId == "key-b" and TimeGenerated >= ago(368s) | project CorrelationId`,
		want: func([]reqlog.Record) [][]any { return [][]any{{"req-001"}, {"req-005"}} }},
	{name: "caller index, exclusive lower bound", query: `MoatGatewayLogs | where CallerId == "key-b" and TimeGenerated > ago(368s) | project CorrelationId`,
		want: func([]reqlog.Record) [][]any { return [][]any{{"req-001"}} }},
	{name: "caller index, inclusive upper bound", query: `MoatGatewayLogs | where CallerId == "key-b" and TimeGenerated <= ago(368s) and TimeGenerated >= ago(1000s) | project CorrelationId`,
		want: func([]reqlog.Record) [][]any { return [][]any{{"req-005"}, {"req-009"}, {"req-013"}} }},
	{name: "caller index, exclusive upper bound", query: `MoatGatewayLogs | where CallerId == "key-b" and TimeGenerated < ago(368s) and TimeGenerated >= ago(1000s) | project CorrelationId`,
		want: func([]reqlog.Record) [][]any { return [][]any{{"req-009"}, {"req-013"}} }},
	{name: "caller index, between its ends", query: `MoatGatewayLogs | where CallerId == "key-b" and TimeGenerated between (ago(368s) .. ago(84s)) | project CorrelationId`,
		want: func([]reqlog.Record) [][]any { return [][]any{{"req-001"}, {"req-005"}} }},
	{name: "caller index after a recomputed caller", query: `MoatGatewayLogs
		| extend CallerId = strcat(CallerId, "-x")
		| where CallerId == "key-a-x" and TimeGenerated > ago(30m)
		| count`,
		want: countWhere(func(r reqlog.Record) bool { return r.Caller == "key-a" && r.Time.After(testNow.Add(-30*time.Minute)) })},
	{name: "case-insensitive equality", query: `MoatGatewayLogs | where CallerId =~ "entra-oid-1" and AuthType !~ "KEY" | count`,
		want: countWhere(func(r reqlog.Record) bool { return r.Caller == "Entra-OID-1" })},
	{name: "in, in~, between", query: `MoatGatewayLogs
		| where ResponseCode in (429, 500) or LastErrorReason in~ ("CLIENT_AUTH")
		| where Attempts between (1 .. 2) and ResponseCode !in (500)
		| count`,
		want: countWhere(func(r reqlog.Record) bool {
			return (r.Status == 429 || r.Status == 500 || r.ErrorKind == "client_auth") && r.Attempts <= 2 && r.Status != 500
		})},
	{name: "datetime between", query: `MoatGatewayLogs
		| where TimeGenerated between (datetime(2026-01-02T02:30:00Z) .. 20m)
		| count`,
		want: countWhere(func(r reqlog.Record) bool {
			lo := time.Date(2026, 1, 2, 2, 30, 0, 0, time.UTC)
			return !r.Time.Before(lo) && !r.Time.After(lo.Add(20*time.Minute))
		})},
	{name: "timespan arithmetic", query: `MoatGatewayLogs
		| where TimeGenerated > now() - 10m
		| project CorrelationId, AgeMinutes = (now() - TimeGenerated) / 1m, Plus = TimeGenerated + 90s`,
		want: func(recs []reqlog.Record) [][]any {
			var out [][]any
			for _, r := range recent(recs, 10*time.Minute) {
				out = append(out, []any{r.RequestID, testNow.Sub(r.Time).Minutes(), r.Time.Add(90 * time.Second)})
			}
			return out
		}},
	{name: "dcount min max", query: `MoatGatewayLogs
		| summarize Callers = dcount(CallerId), First = min(TimeGenerated), Last = max(TimeGenerated), MaxTok = max(TotalTokens) by DeploymentName`,
		want: func(recs []reqlog.Record) [][]any {
			keys, m := groupBy(recs, func(r reqlog.Record) string { return r.Deployment })
			var out [][]any
			for _, k := range keys {
				callers := map[string]bool{}
				first, last, maxTok := m[k][0].Time, m[k][0].Time, 0
				for _, r := range m[k] {
					callers[r.Caller] = true
					if r.Time.Before(first) {
						first = r.Time
					}
					if r.Time.After(last) {
						last = r.Time
					}
					maxTok = max(maxTok, r.TotalTokens)
				}
				out = append(out, []any{k, int64(len(callers)), first, last, int64(maxTok)})
			}
			return out
		}},
	{name: "bins", query: `MoatGatewayLogs | summarize n = count(), s = sum(TotalTime) by bin(TotalTokens, 100), bin(TimeGenerated, 15m)`,
		want: func(recs []reqlog.Record) [][]any {
			keys, m := groupBy(recs, func(r reqlog.Record) string {
				return fmt.Sprint(r.TotalTokens/100*100, r.Time.Truncate(15*time.Minute).Unix())
			})
			var out [][]any
			for _, k := range keys {
				r := m[k][0]
				s := 0.0
				for _, x := range m[k] {
					s += x.TotalMs
				}
				out = append(out, []any{int64(r.TotalTokens / 100 * 100), r.Time.Truncate(15 * time.Minute), int64(len(m[k])), s})
			}
			return out
		}},
	{name: "summarize expression", query: `MoatGatewayLogs
		| summarize ErrorRate = 100.0 * countif(ResponseCode >= 400) / count(), Streamed = sumif(TotalTokens, IsStreamCompletion) by Deployment = toupper(DeploymentName)
		| where ErrorRate > 0`,
		want: func(recs []reqlog.Record) [][]any {
			keys, m := groupBy(recs, func(r reqlog.Record) string { return strings.ToUpper(r.Deployment) })
			var out [][]any
			for _, k := range keys {
				var errs, streamed int64
				for _, r := range m[k] {
					if r.Status >= 400 {
						errs++
					}
					if r.Streamed {
						streamed += int64(r.TotalTokens)
					}
				}
				if errs > 0 {
					out = append(out, []any{k, 100 * float64(errs) / float64(len(m[k])), streamed})
				}
			}
			return out
		}},
	{name: "swapped names sort by values", ordered: true, query: `MoatGatewayLogs
		| project X = CallerId, CallerId = DeploymentName, Id
		| extend Twice = Id * 2, Next = Twice + 1
		| sort by X asc, Id asc
		| take 3`,
		want: func(recs []reqlog.Record) [][]any {
			type row struct {
				caller, dep string
				id          int64
			}
			var rows []row
			for i, r := range recs {
				rows = append(rows, row{r.Caller, r.Deployment, int64(i + 1)})
			}
			sort.Slice(rows, func(i, j int) bool {
				if rows[i].caller != rows[j].caller {
					return rows[i].caller < rows[j].caller
				}
				return rows[i].id < rows[j].id
			})
			var out [][]any
			for _, r := range rows[:3] {
				out = append(out, []any{r.caller, r.dep, r.id, 2 * r.id, 2*r.id + 1})
			}
			return out
		}},
	// Cross-dialect only: conversions and formatting.
	{name: "scalar functions", ordered: true, query: `MoatGatewayLogs
		| where Id <= 6
		| extend Kind = iff(ResponseCode >= 400, "error", "ok"), Day = tostring(TimeGenerated), Flag = tostring(IsStreamCompletion)
		| extend Label = strcat(DeploymentName, "#", Attempts), Len = strlen(Url), Slow = TotalTime > 100, Bucket = case(TotalTime < 100, "fast", TotalTime < 200, "ok", "slow")
		| extend Tok = toint(TotalTime), Ratio = round(todouble(CompletionTokens) / PromptTokens, 3), Empty = isempty(LastErrorReason), Age = (now() - TimeGenerated) / 1s
		| project Id, Kind, Day, Flag, Label, Len, Slow, Bucket, Tok, Ratio, Empty, Age, Bin = bin(TotalTime, 25), Est = TokensEstimated
		| sort by Id asc`},
	{name: "project-away and rename", ordered: true, query: `MoatGatewayLogs
		| project Id, CallerId, RequestMessages | project-away RequestMessages | project-rename Caller = CallerId
		| where Id > 40 | sort by Id desc | take 3`},
}

// TestExecute runs each case on SQLite and PostgreSQL, checks the results
// against the Go expectation and against each other.
func TestExecute(t *testing.T) {
	recs := testRecords()
	lite := openSQLite(t, recs)
	pg := openPostgres(t, recs)
	opts := cmp.Options{cmpopts.EquateApprox(0, 1e-9), cmpopts.EquateEmpty()}
	for _, tc := range execCases {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := run(t, lite, SQLite, tc.query)
			if !tc.ordered {
				sortRows(got)
			}
			if tc.want != nil {
				want := tc.want(recs)
				if len(want) == 0 {
					t.Fatal("empty expectation: the dataset does not exercise this case")
				}
				if !tc.ordered {
					sortRows(want)
				}
				if diff := cmp.Diff(want, got, opts); diff != "" {
					t.Errorf("sqlite result mismatch (-want +got):\n%s", diff)
				}
			} else if len(got) == 0 {
				t.Errorf("no rows")
			}
			if testing.Verbose() {
				t.Logf("%d rows, first: %v", len(got), got[0])
			}
			if pg == nil {
				return
			}
			pgRows, _ := run(t, pg, Postgres, tc.query)
			if !tc.ordered {
				sortRows(pgRows)
			}
			if diff := cmp.Diff(got, pgRows, opts); diff != "" {
				t.Errorf("sqlite and postgres disagree (-sqlite +postgres):\n%s", diff)
			}
		})
	}
}
