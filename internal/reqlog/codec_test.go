package reqlog_test

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/reqlog"
	"github.com/moat-gw/moat/internal/store/storetest"
)

func TestCodecRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 5, 30, 1, 123456789, time.UTC)
	tests := []struct {
		name string
		rec  reqlog.Record
	}{
		{"zero", reqlog.Record{}},
		{"typical", storetest.Records(t0, 1)[0]},
		{"extremes", reqlog.Record{
			Time: time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC), Status: -1, UpstreamStatus: math.MaxInt32,
			TotalMs: math.MaxFloat64, UpstreamMs: math.Inf(-1), FirstByteMs: math.SmallestNonzeroFloat64,
			PromptTokens: math.MinInt, CompletionTokens: math.MaxInt, RequestBytes: math.MaxInt64,
			ResponseBytes: math.MinInt64, TokensEstimated: true, Streamed: true,
		}},
		{"text", reqlog.Record{Time: t0, Caller: "o'brien \x00 \xff 🦊", RequestBody: string(make([]byte, 1<<16))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.rec
			want.ID = 0 // not spooled: the store assigns it
			want.Time = want.Time.UTC()
			got, err := reqlog.DecodeRecord(reqlog.EncodeRecord(nil, &tt.rec))
			if err != nil {
				t.Fatalf("DecodeRecord: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCodecRejects(t *testing.T) {
	good := reqlog.EncodeRecord(nil, &storetest.Records(time.Now(), 1)[0])
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"other version", append([]byte{9}, good[1:]...)},
		{"cut", good[:len(good)-3]},
		{"trailing bytes", append(append([]byte{}, good...), 0)},
		{"wrong type", []byte{1, 1, 's', 0}}, // a string where the time goes
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := reqlog.DecodeRecord(tt.b); err == nil {
				t.Errorf("DecodeRecord(%q) succeeded", tt.b)
			}
		})
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(reqlog.EncodeRecord(nil, &storetest.Records(time.Now(), 1)[0]))
	f.Add(reqlog.EncodeRecord(nil, &reqlog.Record{}))
	f.Add([]byte{1, 200, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := reqlog.DecodeRecord(b)
		if err != nil {
			return
		}
		// What decodes encodes to something that decodes the same.
		again, err := reqlog.DecodeRecord(reqlog.EncodeRecord(nil, &r))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !cmp.Equal(r, again, cmp.Comparer(func(a, b float64) bool {
			return a == b || (math.IsNaN(a) && math.IsNaN(b))
		})) {
			t.Fatalf("round trip changed the record:\n%s", cmp.Diff(r, again))
		}
	})
}
