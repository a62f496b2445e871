package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/cost"
	"github.com/moat-gw/moat/internal/logquery"
	"github.com/moat-gw/moat/internal/report"
	"github.com/moat-gw/moat/internal/store"
)

const reportUsage = `usage: moat report usage [--from 2026-11-01] [--to 2026-12-01] [--by team|key|deployment|model[,...]]
                         [-o table|csv|json] [--config FILE]

Calls, tokens and cost from the request log over [from, to), grouped by the
dimensions and by the price version that priced them. Dates are midnight in
budgets.time_zone (default UTC); YYYY-MM is a month's first day; RFC 3339
times are taken as they are. Default: this month so far, by team.`

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "usage" {
		fmt.Fprintln(stderr, reportUsage)
		return errUsage
	}
	fs := newFlags("report usage", stderr)
	path := configFlag(fs)
	from := fs.String("from", "", "start (inclusive): YYYY-MM-DD, YYYY-MM or RFC 3339 (default: this month's first day)")
	to := fs.String("to", "", "end (exclusive), same forms (default: now)")
	by := fs.String("by", "team", "comma-separated dimensions: team, key, deployment, model")
	format := fs.String("o", "table", "output `format`: table, csv or json")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, _, err := loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	loc, err := cfg.Budgets.Location()
	if err != nil {
		return err
	}
	now := time.Now()
	req := report.Request{To: now, By: splitList(*by)}
	y, m, _ := now.In(loc).Date()
	req.From = time.Date(y, m, 1, 0, 0, 0, 0, loc)
	if *from != "" {
		if req.From, err = report.ParseTime(*from, loc); err != nil {
			return fmt.Errorf("--from %w", err)
		}
	}
	if *to != "" {
		if req.To, err = report.ParseTime(*to, loc); err != nil {
			return fmt.Errorf("--to %w", err)
		}
	}
	switch *format {
	case "table", "csv", "json":
	default:
		return fmt.Errorf("-o %q: want table, csv or json", *format)
	}
	pricer, err := cost.NewPricer(cfg.PricerOptions())
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg, store.Options{Existing: true})
	if err != nil {
		return err
	}
	defer st.Close()
	db, dialect := store.KQL(st)
	runner := &logquery.Runner{DB: db, Dialect: dialect, Timeout: 5 * time.Minute, Options: rollupOptions(ctx, st, stderr)}
	rep, err := report.Run(ctx, runner.Query, req, pricer.Currency())
	if err != nil {
		return err
	}
	switch *format {
	case "csv":
		return logquery.WriteCSV(stdout, rep.Result)
	case "json":
		return printReportJSON(stdout, rep)
	}
	fmt.Fprintf(stdout, "Usage from %s to %s by %s. Cost in %s at price version %s (current prices: %s).\n\n",
		rep.From.Format(time.RFC3339), rep.To.Format(time.RFC3339), strings.Join(rep.By, ", "),
		rep.Currency, versionsText(rep.PriceVersions), pricer.Version())
	if err := logquery.WriteTable(stdout, rep.Result); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nTotal cost: %.4f %s\n", rep.TotalCost, rep.Currency)
	return nil
}

func versionsText(vs []string) string {
	var out []string
	for _, v := range vs {
		if v == "" {
			v = "(unpriced)"
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return "(no calls)"
	}
	return strings.Join(out, ", ")
}

// printReportJSON writes the report as one object: the range, the
// currency and price versions, and the rows keyed by column name.
func printReportJSON(w io.Writer, rep *report.Report) error {
	rows := make([]map[string]any, 0, len(rep.Result.Rows))
	for _, r := range rep.Result.Rows {
		m := map[string]any{}
		for i, c := range rep.Result.Columns {
			m[c.Name] = r[i]
		}
		rows = append(rows, m)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		From          time.Time        `json:"from"`
		To            time.Time        `json:"to"`
		By            []string         `json:"by"`
		Currency      string           `json:"currency"`
		PriceVersions []string         `json:"price_versions"`
		TotalCost     float64          `json:"total_cost"`
		Rows          []map[string]any `json:"rows"`
	}{rep.From, rep.To, rep.By, rep.Currency, nonNilStrings(rep.PriceVersions), rep.TotalCost, rows})
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
