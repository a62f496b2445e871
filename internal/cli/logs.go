package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store"
)

func runLogs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "query" {
		return runLogsQuery(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "tail" {
		fmt.Fprintln(stderr, "usage: moat logs tail [--config FILE] [-n N] [-f]")
		fmt.Fprintln(stderr, "       moat logs query [--config FILE] [-o table|json|csv] [--timeout 30s] '<KQL>'")
		return errUsage
	}
	fs := newFlags("logs tail", stderr)
	path := configFlag(fs)
	n := fs.Int("n", 20, "how many recent calls to show first")
	follow := fs.Bool("f", false, "keep showing new calls as they arrive")
	interval := fs.Duration("interval", 500*time.Millisecond, "poll interval with -f")
	out := outputFlag(fs) // json: one object per line, KQL column names
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, _, err := loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg, store.Options{Existing: true})
	if err != nil {
		return err
	}
	defer st.Close()
	return tail(ctx, st, stdout, *n, *follow, *interval, out.json())
}

// tail prints the newest n calls and, with follow, every call logged after
// them, each once: a reqlog.Follower re-reads ids that became visible out
// of order, which several replicas writing to one PostgreSQL produce.
func tail(ctx context.Context, store reqlog.Store, w io.Writer, n int, follow bool, interval time.Duration, asJSON bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	enc := json.NewEncoder(w)
	if !asJSON {
		fmt.Fprintln(tw, "TIME\tREQUEST ID\tREPLICA\tCALLER\tKEY\tTEAM\tCLIENT\tDEPLOYMENT\tOPERATION\tSTATUS\tERROR\tMS\tTOKENS\tSTREAM")
	}
	f := reqlog.NewFollower(store)
	recs, err := f.Tail(ctx, n)
	for {
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return fmt.Errorf("read request log: %w", err)
		}
		for _, r := range recs {
			if asJSON {
				if err := enc.Encode(withoutContent(r.KQLObject())); err != nil {
					return err
				}
				continue
			}
			tokens := fmt.Sprintf("%d/%d", r.PromptTokens, r.CompletionTokens)
			if r.TokensEstimated {
				tokens += "~"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%.1f\t%s\t%v\n",
				r.Time.Local().Format("15:04:05.000"), r.RequestID, dash(r.Replica), dash(r.Caller), dash(r.KeyName), dash(r.Team), r.ClientIP, dash(r.Deployment),
				dash(r.Operation), r.Status, dash(r.ErrorKind), r.TotalMs, tokens, r.Streamed)
		}
		tw.Flush()
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
		recs, err = f.Next(ctx)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// withoutContent drops the prompt and completion columns from a tailed
// record: reading them is audited, which moat logs query --content does.
func withoutContent(obj map[string]any) map[string]any {
	for _, c := range reqlog.Columns() {
		if c.Content() {
			delete(obj, c.KQL)
		}
	}
	return obj
}
