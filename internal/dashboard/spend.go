package dashboard

import (
	"context"
	"time"

	"github.com/moat-gw/moat/internal/logquery"
	"github.com/moat-gw/moat/internal/report"
)

// spendQuery is the chargeback panel's KQL: moat report usage --by
// team,model over the window (its end just after now, so the current
// second counts).
func spendQuery(start, now time.Time) string {
	q, err := report.Request{From: start, To: now.Add(time.Second), By: []string{"team", "model"}}.Query()
	if err != nil {
		return "" // unreachable: the window is never empty and the dimensions are known
	}
	return q
}

// applySpend fills the chargeback panel with report's sums.
func (s *Summary) applySpend(res *logquery.Result, start, now time.Time) {
	rep, _ := report.Run(context.Background(), func(context.Context, string) (*logquery.Result, error) { return res, nil },
		report.Request{From: start, To: now.Add(time.Second), By: []string{"team", "model"}}, "")
	s.Spend = logquery.ToWire(res)
	s.SpendVersions, s.SpendTotal = rep.PriceVersions, rep.TotalCost
	if s.SpendVersions == nil {
		s.SpendVersions = []string{}
	}
}
