// Command kql10m measures moat's KQL queries over a large request log: it
// writes -rows synthetic records spread over -days into SQLite and/or
// PostgreSQL through the stores' own WriteBatch, then times the queries
// operators run most (tokens by caller and deployment, 429s per minute,
// latency percentiles, errors by reason, recent calls, calls per minute,
// the dashboard summary) through internal/logquery, several runs each, and
// prints the median and the fastest run as markdown (docs/benchmarks.md,
// "KQL queries at 10 million rows").
//
// Each store is measured twice: over the log alone, and with the hourly and
// daily rollup (kql.Options.Rollup), as moat runs queries.
//
//	go run ./bench/kql10m -rows 10000000 -stores sqlite,postgres
//
// The SQLite file is kept (in -dir) and reused by later runs with the same
// -rows; the PostgreSQL schema is dropped at the end unless -keep-schema.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kql10m:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	rows       int
	days       int
	stores     []string
	dir        string
	dsn        string
	schema     string
	keepSchema bool
	runs       int
	batch      int
	explain    bool
	backfill   bool
	only       string
	full       bool
	timeout    time.Duration
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("kql10m", flag.ContinueOnError)
	var o options
	var stores string
	fs.IntVar(&o.rows, "rows", 10_000_000, "records to generate")
	fs.IntVar(&o.days, "days", 30, "days the records span, ending now")
	fs.StringVar(&stores, "stores", "sqlite,postgres", "stores to measure: sqlite, postgres or both")
	fs.StringVar(&o.dir, "dir", filepath.Join(os.TempDir(), "moat-kql10m"), "folder for the SQLite file (kept and reused)")
	fs.StringVar(&o.dsn, "postgres", envOr("MOAT_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "PostgreSQL DSN")
	fs.StringVar(&o.schema, "schema", "moat_kql10m", "PostgreSQL schema for the benchmark (dropped at the end)")
	fs.BoolVar(&o.keepSchema, "keep-schema", false, "keep the PostgreSQL schema for a later run")
	fs.IntVar(&o.runs, "runs", 5, "timed runs per query, after one warm-up run")
	fs.IntVar(&o.batch, "batch", 20_000, "records per WriteBatch")
	fs.BoolVar(&o.explain, "explain", false, "print each query's plan")
	fs.BoolVar(&o.backfill, "backfill", false, "on reused data, undo and time the rollup's migration")
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "give up on a query after this long")
	fs.BoolVar(&o.full, "full", false, "also time a 30-day full-table aggregation")
	fs.StringVar(&o.only, "only", "", "run only the queries whose name contains this")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.stores = strings.Split(stores, ",")

	var all []measurement
	for _, s := range o.stores {
		var ms []measurement
		var err error
		switch strings.TrimSpace(s) {
		case "sqlite":
			ms, err = benchSQLite(ctx, o, out)
		case "postgres":
			ms, err = benchPostgres(ctx, o, out)
		default:
			err = fmt.Errorf("unknown store %q", s)
		}
		if err != nil {
			return err
		}
		all = append(all, ms...)
	}
	fmt.Fprintln(out)
	writeTable(out, o, all)
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// progress reports load progress on one line per tenth.
type progress struct {
	out   io.Writer
	what  string
	total int
	start time.Time
	next  int
}

func newProgress(out io.Writer, what string, total int) *progress {
	return &progress{out: out, what: what, total: total, start: time.Now(), next: total / 10}
}

func (p *progress) done(n int) {
	if n < p.next && n < p.total {
		return
	}
	el := time.Since(p.start)
	fmt.Fprintf(p.out, "  %s: %d/%d rows in %v (%.0f rows/s)\n", p.what, n, p.total, el.Round(time.Second), float64(n)/el.Seconds())
	p.next += p.total / 10
}
