// Package storetest is the contract every reqlog.Store must meet, as tests
// and benchmarks that each store's own tests run against a real database.
// One suite for all stores keeps SQLite and PostgreSQL behaving alike, down
// to the microsecond.
package storetest

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/reqlog"
)

// Opener opens a store on one location (a file, a schema); calling it again
// reopens the same data. It registers the store's Close with tb's cleanup,
// so Close must be safe to call twice.
type Opener func(tb testing.TB) reqlog.Store

// Factory makes a new, empty, isolated location, registers its removal with
// tb's cleanup, and returns the Opener for it.
type Factory func(tb testing.TB) Opener

// Run runs the contract tests against the stores that newStore makes.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"RoundTrip", testRoundTrip},
		{"After", testAfter},
		{"DeleteBefore", testDeleteBefore},
		{"BlankBodies", testBlankBodies},
		{"Concurrent", testConcurrent},
		{"Reopen", testReopen},
		{"EmptyBatch", testEmptyBatch},
		{"CanceledContext", testCanceledContext},
		{"Rollup", testRollup},
		{"Idempotent", testIdempotent},
		{"Follow", testFollow},
		{"Replicas", testReplicas},
		{"Pins", testPins},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

// Records returns n plausible records one second apart from start, for
// tests and benchmarks.
func Records(start time.Time, n int) []reqlog.Record {
	recs := make([]reqlog.Record, n)
	for i := range recs {
		recs[i] = reqlog.Record{
			Time:             start.Add(time.Duration(i) * time.Second),
			RequestID:        fmt.Sprintf("req-%08d", i),
			Caller:           fmt.Sprintf("key-%d", i%7),
			AuthType:         "key",
			ClientIP:         "10.1.2.3",
			Listener:         "main",
			Deployment:       []string{"gpt-4o", "gpt-4o-mini", "text-embedding-3-small"}[i%3],
			Model:            "gpt-4o-2024-08-06",
			Upstream:         "eastus",
			Operation:        "ChatCompletions_Create",
			APIVersion:       "2024-10-21",
			Method:           "POST",
			Path:             "/openai/deployments/gpt-4o/chat/completions",
			Status:           200,
			UpstreamStatus:   200,
			TotalMs:          812.5 + float64(i),
			UpstreamMs:       790.25,
			FirstByteMs:      120.125,
			PromptTokens:     1200 + i,
			CompletionTokens: 300,
			TotalTokens:      1500 + i,
			Streamed:         i%2 == 0,
			RequestBytes:     4096,
			ResponseBytes:    1024,
			Region:           "eastus",
			Attempts:         1,
		}
	}
	return recs
}

// base is a start time a few days back, so that stores that partition by
// day place the contract's records in real partitions.
func base() time.Time {
	return time.Now().UTC().Truncate(24 * time.Hour).Add(-4 * 24 * time.Hour)
}

// stored is what a store gives back for r: the time in UTC, truncated to
// the microsecond.
func stored(r reqlog.Record) reqlog.Record {
	r.Time = r.Time.Truncate(time.Microsecond).UTC()
	return r
}

// all reads every record in id order.
func all(tb testing.TB, s reqlog.Store) []reqlog.Record {
	tb.Helper()
	recs, err := s.After(context.Background(), 0, math.MaxInt32)
	if err != nil {
		tb.Fatalf("After(0): %v", err)
	}
	return recs
}

func write(tb testing.TB, s reqlog.Store, recs []reqlog.Record) {
	tb.Helper()
	if err := s.WriteBatch(context.Background(), recs); err != nil {
		tb.Fatalf("WriteBatch(%d records): %v", len(recs), err)
	}
}

func testRoundTrip(t *testing.T, open Opener) {
	s := open(t)
	t0 := base()
	tests := []struct {
		name string
		rec  reqlog.Record
	}{
		{"zero values", reqlog.Record{Time: t0}},
		{"every field", reqlog.Record{
			Time: t0.Add(time.Hour + 123456789*time.Nanosecond), RequestID: "0f8fad5b-d9cb-469f-a165-70867728950e",
			Caller: "key-1", AuthType: "entra", ClientIP: "2001:db8::1", Listener: "internal",
			Deployment: "gpt-4o", Model: "gpt-4o-2024-08-06", Upstream: "swedencentral",
			Operation: "ChatCompletions_Create", APIVersion: "2024-10-21", Method: "POST",
			Path: "/openai/deployments/gpt-4o/chat/completions", Status: 429, UpstreamStatus: 503,
			ErrorKind: "upstream_throttled", ErrorMessage: "all upstreams throttled", TotalMs: 0.1,
			UpstreamMs: 1e-9, FirstByteMs: 12345.678901, PromptTokens: 1, CompletionTokens: 2,
			TotalTokens: 3, TokensEstimated: true, Streamed: true, RequestBytes: 4, ResponseBytes: 5,
			Region: "swedencentral", Attempts: 3, RequestBody: `{"messages":[]}`, ResponseBody: "data: [DONE]\n\n",
			Replica: "moat-eu-1", Guardrail: "completion:flag:email,prompt:block:card",
			KeyName: "team-blue", Owner: "alice", Team: "blue", Cost: 0.0125, PriceVersion: "2026-12-01",
			Headers: `{"req":{"user-agent":"AzureOpenAI/Python 1.0"},"resp":{"x-request-id":"r1"}}`,
		}},
		{"extremes", reqlog.Record{
			Time: t0.Add(2*time.Hour + 999*time.Nanosecond), Status: -1, UpstreamStatus: math.MaxInt32,
			TotalMs: math.MaxFloat64, UpstreamMs: -0.5, FirstByteMs: math.SmallestNonzeroFloat64,
			PromptTokens: math.MaxInt32, CompletionTokens: -7, TotalTokens: math.MinInt32,
			RequestBytes: math.MaxInt64, ResponseBytes: math.MinInt64, Attempts: 1 << 40,
		}},
		{"awkward text", reqlog.Record{
			Time: t0.Add(3 * time.Hour), Caller: "o'brien \"quoted\" \\ back\\slash",
			Deployment: "emoji 🦊 and ünïcödé", ErrorMessage: "line1\nline2\ttab %s %d ?", Path: "/a?b=c&d='; DROP TABLE request_log; --",
			RequestBody: strings.Repeat("x", 1<<20),
		}},
		{"other zone", reqlog.Record{
			Time: time.Date(2031, 2, 3, 4, 5, 6, 7000, time.FixedZone("UTC+5", 5*3600)), Caller: "zone",
		}},
		{"before 1970", reqlog.Record{Time: time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC), Caller: "old"}},
	}
	var in []reqlog.Record
	for _, tt := range tests {
		in = append(in, tt.rec)
	}
	write(t, s, in)
	got := all(t, s)
	if len(got) != len(tests) {
		t.Fatalf("After returned %d records, want %d", len(got), len(tests))
	}
	var prev int64
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got[i].ID <= prev {
				t.Errorf("ID = %d, want > %d (ids increase in write order)", got[i].ID, prev)
			}
			want := stored(tt.rec)
			want.ID = got[i].ID
			if diff := cmp.Diff(want, got[i]); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if got[i].Time.Location() != time.UTC {
				t.Errorf("Time location = %v, want UTC", got[i].Time.Location())
			}
		})
		prev = got[i].ID
	}
}

func testAfter(t *testing.T, open Opener) {
	s := open(t)
	write(t, s, Records(base(), 6))
	write(t, s, Records(base().Add(time.Hour), 4)) // other times: not replays of the first
	ids := func(recs []reqlog.Record) []int64 {
		out := []int64{}
		for _, r := range recs {
			out = append(out, r.ID)
		}
		return out
	}
	every := ids(all(t, s))
	if len(every) != 10 {
		t.Fatalf("stored %d records, want 10", len(every))
	}
	tests := []struct {
		name    string
		afterID int64
		limit   int
		want    []int64
	}{
		{"from start", 0, 100, every},
		{"limit", 0, 3, every[:3]},
		{"after an id", every[4], 2, every[5:7]},
		{"after the last", every[9], 10, []int64{}},
		{"newest", -1, 3, every[7:]},
		{"newest more than stored", -1, 100, every},
		{"zero limit", 0, 0, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := s.After(context.Background(), tt.afterID, tt.limit)
			if err != nil {
				t.Fatalf("After(%d, %d): %v", tt.afterID, tt.limit, err)
			}
			if diff := cmp.Diff(tt.want, ids(recs)); diff != "" {
				t.Errorf("After(%d, %d) ids (-want +got):\n%s", tt.afterID, tt.limit, diff)
			}
		})
	}
}

func testDeleteBefore(t *testing.T, open Opener) {
	s := open(t)
	// 16 records six hours apart: four days, so that stores that partition
	// by day drop whole partitions as well as trimming one.
	recs := Records(base(), 16)
	for i := range recs {
		recs[i].Time = base().Add(time.Duration(i)*6*time.Hour + 500*time.Microsecond)
	}
	write(t, s, recs)
	tests := []struct {
		name     string
		cutoff   time.Time
		deleted  int64
		firstKey string // RequestID of the oldest record left, "" when none
	}{
		{"before everything", base(), 0, recs[0].RequestID},
		{"boundary is kept", recs[3].Time, 3, recs[3].RequestID},
		{"same cutoff again", recs[3].Time, 0, recs[3].RequestID},
		{"sub-microsecond past a record", recs[3].Time.Add(time.Nanosecond), 1, recs[4].RequestID},
		{"whole days", recs[13].Time, 9, recs[13].RequestID},
		{"everything", recs[15].Time.Add(time.Hour), 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := s.DeleteBefore(context.Background(), tt.cutoff)
			if err != nil {
				t.Fatalf("DeleteBefore: %v", err)
			}
			if n != tt.deleted {
				t.Errorf("DeleteBefore deleted %d, want %d", n, tt.deleted)
			}
			left := all(t, s)
			first := ""
			if len(left) > 0 {
				first = left[0].RequestID
			}
			if first != tt.firstKey {
				t.Errorf("oldest left = %q, want %q", first, tt.firstKey)
			}
			for _, r := range left {
				if r.Time.Before(tt.cutoff) {
					t.Errorf("record %s at %v survived cutoff %v", r.RequestID, r.Time, tt.cutoff)
				}
			}
		})
	}
}

func testReopen(t *testing.T, open Opener) {
	s := open(t)
	first := Records(base(), 5)
	write(t, s, first)
	before := all(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t) // migrations run again and must be no-ops
	after := all(t, s)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Fatalf("records after reopen (-before +after):\n%s", diff)
	}
	write(t, s, Records(base().Add(time.Hour), 5))
	recs := all(t, s)
	if len(recs) != 10 {
		t.Fatalf("stored %d records, want 10", len(recs))
	}
	if recs[5].ID <= before[4].ID {
		t.Errorf("id after reopen = %d, want > %d", recs[5].ID, before[4].ID)
	}
}

func testEmptyBatch(t *testing.T, open Opener) {
	s := open(t)
	for _, recs := range [][]reqlog.Record{nil, {}} {
		if err := s.WriteBatch(context.Background(), recs); err != nil {
			t.Errorf("WriteBatch(%v): %v", recs, err)
		}
	}
	if recs := all(t, s); len(recs) != 0 {
		t.Errorf("stored %d records, want 0", len(recs))
	}
}

func testCanceledContext(t *testing.T, open Opener) {
	s := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.WriteBatch(ctx, Records(base(), 3)); err == nil {
		t.Errorf("WriteBatch with a canceled context succeeded")
	}
	if recs := all(t, s); len(recs) != 0 {
		t.Errorf("a canceled WriteBatch stored %d records", len(recs))
	}
}
