package admintest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/admin"
	"github.com/moat-gw/moat/internal/audit"
)

// appendN appends n entries and returns them as AppendAudit reported them.
func appendN(tb testing.TB, s admin.AuditLog, n int) []audit.Entry {
	tb.Helper()
	var out []audit.Entry
	for i := range n {
		e, err := s.AppendAudit(context.Background(), audit.Record{
			Time: base().Add(time.Duration(i) * time.Second), Actor: "cli:alice", Action: audit.ActionKeyCreate,
			Target: fmt.Sprintf("key%03d", i), Details: json.RawMessage(fmt.Sprintf(`{"name": "key %d", "n": %d}`, i, i)),
			ClientIP: "10.0.0.7",
		})
		if err != nil {
			tb.Fatalf("AppendAudit %d: %v", i, err)
		}
		out = append(out, e)
	}
	return out
}

// readAll pages through the whole log.
func readAll(tb testing.TB, s admin.AuditLog, page int) []audit.Entry {
	tb.Helper()
	var out []audit.Entry
	after := int64(0)
	for {
		es, err := s.AuditAfter(context.Background(), after, page)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, es...)
		if len(es) < page {
			return out
		}
		after = es[len(es)-1].Seq
	}
}

func testAuditChain(t *testing.T, h Harness) {
	s := h.Open(t)
	if got := readAll(t, s, 10); len(got) != 0 {
		t.Fatalf("empty log holds %d entries", len(got))
	}
	appended := appendN(t, s, 7)
	if appended[0].Seq != 1 || appended[0].PrevHash != audit.GenesisHash {
		t.Errorf("first entry seq %d prev %q", appended[0].Seq, appended[0].PrevHash)
	}
	got := readAll(t, s, 3)
	if diff := cmp.Diff(appended, got); diff != "" {
		t.Errorf("stored entries differ from appended ones (-appended +stored):\n%s", diff)
	}
	if err := audit.Verify(got); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if _, err := s.AppendAudit(context.Background(), audit.Record{Actor: "x", Action: "y", Details: json.RawMessage(`[]`)}); err == nil {
		t.Error("AppendAudit accepted non-object details")
	}
}

// testAuditConcurrent appends from several handles at once, as replicas
// would: the chain must stay linear, with no gap and no fork.
func testAuditConcurrent(t *testing.T, h Harness) {
	const replicas, each = 4, 15
	stores := make([]admin.Store, replicas)
	for i := range stores {
		stores[i] = h.Open(t)
	}
	var wg sync.WaitGroup
	errs := make(chan error, replicas*each)
	for r, s := range stores {
		wg.Go(func() {
			for i := range each {
				_, err := s.AppendAudit(context.Background(), audit.Record{Time: time.Now(), Actor: fmt.Sprintf("replica-%d", r),
					Action: audit.ActionRoleAssign, Target: fmt.Sprint(i)})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	all := readAll(t, stores[0], 1000)
	if len(all) != replicas*each {
		t.Errorf("%d entries, want %d", len(all), replicas*each)
	}
	if err := audit.Verify(all); err != nil {
		t.Errorf("Verify after concurrent appends: %v", err)
	}
}

func testAuditAppendOnly(t *testing.T, h Harness) {
	s := h.Open(t)
	appendN(t, s, 2)
	for _, q := range []string{`UPDATE audit_log SET actor = 'mallory' WHERE seq = 1`, `DELETE FROM audit_log WHERE seq = 2`} {
		if err := h.Exec(t, q); err == nil {
			t.Errorf("%s succeeded on the guarded table", q)
		}
	}
	if err := audit.Verify(readAll(t, s, 10)); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// testAuditTamper drops the guards and changes rows behind the store's
// back: VerifyAudit and audit.Verify must name the first broken seq. The
// cases share one database, emptied between them.
func testAuditTamper(t *testing.T, h Harness) {
	tests := []struct {
		name  string
		query string
		seq   int64
	}{
		{"edited details", `UPDATE audit_log SET details = '{"name":"innocent"}' WHERE seq = 3`, 3},
		{"edited actor", `UPDATE audit_log SET actor = 'cli:mallory' WHERE seq = 5`, 5},
		{"edited time", `UPDATE audit_log SET time = (SELECT time FROM audit_log WHERE seq = 1) WHERE seq = 2`, 2},
		{"deleted middle", `DELETE FROM audit_log WHERE seq = 3`, 3},
		{"deleted first", `DELETE FROM audit_log WHERE seq = 1`, 1},
	}
	s := h.Open(t)
	svc := newService(t, s, nil)
	for _, q := range h.Unguard {
		if err := h.Exec(t, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := h.Exec(t, `DELETE FROM audit_log`); err != nil {
				t.Fatal(err)
			}
			appendN(t, s, 6)
			if rep, err := svc.VerifyAudit(context.Background()); err != nil || !rep.OK || rep.Entries != 6 {
				t.Fatalf("before tampering: %+v, %v", rep, err)
			}
			if err := h.Exec(t, tt.query); err != nil {
				t.Fatalf("%s: %v", tt.query, err)
			}
			rep, err := svc.VerifyAudit(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.BrokenSeq != tt.seq {
				t.Errorf("after %s: report %+v, want broken at seq %d", tt.query, rep, tt.seq)
			}
			var be *audit.BrokenError
			if err := audit.Verify(readAll(t, s, 100)); !errors.As(err, &be) || be.Seq != tt.seq {
				t.Errorf("audit.Verify = %v, want broken at seq %d", err, tt.seq)
			}
		})
	}
}

func testReopen(t *testing.T, h Harness) {
	s := h.Open(t)
	ctx := context.Background()
	if err := s.Put(ctx, sampleKey("00000000000f", 4)); err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 2)
	again := h.Open(t)
	if _, err := again.Get(ctx, "00000000000f"); err != nil {
		t.Errorf("key lost on reopen: %v", err)
	}
	if es := readAll(t, again, 10); len(es) != 2 || audit.Verify(es) != nil {
		t.Errorf("audit log after reopen: %d entries, verify %v", len(es), audit.Verify(es))
	}
}
