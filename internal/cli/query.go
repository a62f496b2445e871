package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/moat-gw/moat/internal/audit"
	"github.com/moat-gw/moat/internal/kql"
	"github.com/moat-gw/moat/internal/logquery"
	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store"
)

// queryUsage is the synopsis of moat logs query.
const queryUsage = "usage: moat logs query [--config FILE] [-o table|json|csv] [--timeout 30s] [--content] '<KQL>'"

// runLogsQuery runs one KQL query on the configured request log and prints
// the result. Flags may come before or after the query.
func runLogsQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("logs query", stderr)
	path := configFlag(fs)
	format := fs.String("format", "table", "output `format`: table, json or csv")
	fs.StringVar(format, "o", "table", "the same as --format")
	timeout := fs.Duration("timeout", logquery.DefaultTimeout, "give up on the query after this long")
	content := fs.Bool("content", false, "let the query read prompt and completion text (RequestMessages, ResponseMessages); the read is written to the audit log")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), queryUsage)
		printFlags(fs)
	}
	var parts []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		parts = append(parts, fs.Arg(0))
		args = fs.Args()[1:]
	}
	query := strings.Join(parts, " ")
	write, ok := map[string]func(io.Writer, *logquery.Result) error{
		"table": logquery.WriteTable, "json": logquery.WriteJSON, "csv": logquery.WriteCSV,
	}[*format]
	if !ok || strings.TrimSpace(query) == "" || *timeout <= 0 {
		fmt.Fprintln(stderr, queryUsage)
		return errUsage
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
	db, dialect := store.KQL(st)
	runner := &logquery.Runner{DB: db, Dialect: dialect, Timeout: *timeout, Options: rollupOptions(ctx, st, stderr)}
	qctx := ctx
	if *content {
		qctx = logquery.WithContent(ctx)
	}
	res, err := runner.Query(qctx, query)
	if err != nil {
		var ke *kql.Error
		if errors.As(err, &ke) {
			if !*content && strings.Contains(ke.Msg, logquery.ContentDataAction) {
				ke.Msg += " (here: moat logs query --content, which is audited)"
			}
			return pointAt(query, ke)
		}
		return err
	}
	if res.Content {
		// Audited before anything is printed, as the query API does.
		details, _ := json.Marshal(map[string]any{"query": reqlog.Truncated(query, 2048), "rows": len(res.Rows)})
		if _, err := st.AppendAudit(context.WithoutCancel(ctx), audit.Record{Time: time.Now(), Actor: cliCaller().Actor,
			Action: audit.ActionLogsContentRead, Target: "moat logs query", Details: details}); err != nil {
			return fmt.Errorf("audit the content read: %w", err)
		}
	}
	return write(stdout, res)
}

// pointAt returns ke with the offending line of query and a caret under
// its column, as compilers print them.
func pointAt(query string, ke *kql.Error) error {
	lines := strings.Split(query, "\n")
	if ke.Line < 1 || ke.Line > len(lines) {
		return ke
	}
	line := []rune(strings.TrimRight(lines[ke.Line-1], "\r"))
	col := min(max(ke.Col-1, 0), len(line))
	pad := []rune(strings.Repeat(" ", col))
	for i := range col {
		if line[i] == '\t' {
			pad[i] = '\t' // keep the caret aligned under tabs
		}
	}
	return fmt.Errorf("%w\n%s\n%s^", ke, string(line), string(pad))
}

// rollupOptions returns store.KQLOptions for st (a running moat serve may
// hold the rollup of the newest records in memory), saying on stderr when
// the query reads the log alone.
func rollupOptions(ctx context.Context, st store.Store, stderr io.Writer) kql.Options {
	opts, err := store.KQLOptions(ctx, st)
	if err != nil {
		fmt.Fprintf(stderr, "moat: the rollup could not be brought up to date (%v); reading the log alone\n", err)
	}
	return opts
}
