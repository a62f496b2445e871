package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/moat-gw/moat/internal/admin"
	"github.com/moat-gw/moat/internal/audit"
)

const auditUsage = `usage: moat audit verify [--config FILE]
       moat audit list [--after SEQ] [-n N] [-o table|json] [--config FILE]`

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, auditUsage)
		return errUsage
	}
	fs := newFlags("audit "+args[0], stderr)
	path := configFlag(fs)
	switch args[0] {
	case "verify":
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		svc, done, err := openService(ctx, *path, stderr)
		if err != nil {
			return err
		}
		defer done()
		rep, err := svc.VerifyAudit(ctx)
		if err != nil {
			return err
		}
		if !rep.OK {
			fmt.Fprintf(stdout, "audit log BROKEN: %d entries verify, then seq %d fails\n", rep.Entries, rep.BrokenSeq)
			return &audit.BrokenError{Seq: rep.BrokenSeq, Reason: rep.Problem}
		}
		fmt.Fprintf(stdout, "audit log intact: %d entries; head seq %d hash %s\n", rep.Entries, rep.HeadSeq, dash(rep.HeadHash))
		return nil
	case "list":
		after := fs.Int64("after", 0, "show entries after this sequence number")
		n := fs.Int("n", admin.DefaultAuditLimit, fmt.Sprintf("how many entries to show (max %d)", admin.MaxAuditLimit))
		out := outputFlag(fs) // JSON includes the hashes
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		return auditList(ctx, *path, *after, *n, out.json(), stdout, stderr)
	default:
		fmt.Fprintln(stderr, auditUsage)
		return errUsage
	}
}

func auditList(ctx context.Context, path string, after int64, n int, asJSON bool, stdout, stderr io.Writer) error {
	if n <= 0 {
		return fmt.Errorf("-n %d: want 1 to %d", n, admin.MaxAuditLimit)
	}
	svc, done, err := openService(ctx, path, stderr)
	if err != nil {
		return err
	}
	defer done()
	es, err := svc.AuditEntries(ctx, after, n)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, append([]audit.Entry{}, es...))
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tACTION\tTARGET\tCLIENT\tDETAILS")
	for _, e := range es {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Format(time.RFC3339), e.Actor, e.Action,
			dash(e.Target), dash(e.ClientIP), e.Details)
	}
	return tw.Flush()
}
