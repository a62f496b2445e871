// Package report answers chargeback questions from the request log: what
// each team, key, deployment or model used and cost over a time range, and
// which prices made the cost. It writes one KQL query, so the CLI and the
// dashboard read the store the same way (through logquery), and the KQL
// compiler reads the hourly and daily rollup where it can answer.
package report

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/logquery"
)

// Dimensions a report can group by, with the KQL columns each adds.
var dimensions = map[string][]string{
	"team":       {"Team"},
	"key":        {"CallerId", "KeyName", "Team"},
	"deployment": {"DeploymentName"},
	"model":      {"ModelName"},
}

// Dimensions lists the names --by accepts.
func Dimensions() []string {
	out := make([]string, 0, len(dimensions))
	for d := range dimensions {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Request is one usage report.
type Request struct {
	From, To time.Time // [From, To)
	By       []string  // dimensions, in output order
}

// Query returns the request's KQL: calls, tokens and cost by the
// dimensions and the price version, largest cost first. Only calls that an
// upstream answered count (a refused call costs nothing and used no
// tokens). Every column it reads is a rollup dimension or measure, so the
// compiler reads the rollup for the whole hours and days of the range.
func (r Request) Query() (string, error) {
	if len(r.By) == 0 {
		return "", fmt.Errorf("report: group by at least one of %s", strings.Join(Dimensions(), ", "))
	}
	if !r.From.Before(r.To) {
		return "", fmt.Errorf("report: from %s is not before to %s", r.From.Format(time.RFC3339), r.To.Format(time.RFC3339))
	}
	var cols []string
	for _, d := range r.By {
		c, ok := dimensions[d]
		if !ok {
			return "", fmt.Errorf("report: unknown dimension %q (want %s)", d, strings.Join(Dimensions(), ", "))
		}
		for _, x := range c {
			if !slices.Contains(cols, x) {
				cols = append(cols, x)
			}
		}
	}
	return fmt.Sprintf(`MoatGatewayLogs
| where TimeGenerated >= datetime(%s) and TimeGenerated < datetime(%s) and BackendResponseCode > 0
| summarize Calls = count(), PromptTokens = sum(PromptTokens), CompletionTokens = sum(CompletionTokens),
    TotalTokens = sum(TotalTokens), Cost = sum(Cost) by %s, PriceVersion
| order by Cost desc`, r.From.UTC().Format(time.RFC3339Nano), r.To.UTC().Format(time.RFC3339Nano), strings.Join(cols, ", ")), nil
}

// Report is a usage report's result.
type Report struct {
	From, To time.Time
	By       []string
	// Currency is the currency of the running config's prices; rows
	// priced by other versions name theirs in PriceVersion.
	Currency string
	// PriceVersions lists the price versions that priced the rows ("" for
	// calls to unpriced models).
	PriceVersions []string
	// TotalCost sums Cost over the rows.
	TotalCost float64
	Query     string
	Result    *logquery.Result
}

// Run builds the request's query and runs it with query.
func Run(ctx context.Context, query func(context.Context, string) (*logquery.Result, error), req Request, currency string) (*Report, error) {
	q, err := req.Query()
	if err != nil {
		return nil, err
	}
	res, err := query(ctx, q)
	if err != nil {
		return nil, err
	}
	rep := &Report{From: req.From, To: req.To, By: req.By, Currency: currency, Query: q, Result: res}
	vi, ci := -1, -1
	for i, c := range res.Columns {
		switch c.Name {
		case "PriceVersion":
			vi = i
		case "Cost":
			ci = i
		}
	}
	for _, row := range res.Rows {
		if vi >= 0 {
			if v, _ := row[vi].(string); !slices.Contains(rep.PriceVersions, v) {
				rep.PriceVersions = append(rep.PriceVersions, v)
			}
		}
		if ci >= 0 {
			switch x := row[ci].(type) {
			case float64:
				rep.TotalCost += x
			case int64:
				rep.TotalCost += float64(x)
			}
		}
	}
	slices.Sort(rep.PriceVersions)
	return rep, nil
}

// ParseTime reads a --from/--to value: a date (YYYY-MM-DD, midnight in
// loc), a month (YYYY-MM, its first day), or RFC 3339.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	for _, layout := range []string{"2006-01-02", "2006-01"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want YYYY-MM-DD, YYYY-MM or an RFC 3339 time", s)
	}
	return t, nil
}
