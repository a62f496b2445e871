package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// testBlankBodies checks log.body_retention's store side: bodies of the
// records in [from, to) are emptied, every other column and every other
// record is left alone, and a second pass changes nothing.
func testBlankBodies(t *testing.T, open Opener) {
	s := open(t)
	bb, ok := s.(reqlog.BodyBlanker)
	if !ok {
		t.Fatalf("%T does not implement reqlog.BodyBlanker", s)
	}
	recs := Records(base(), 8)
	for i := range recs {
		recs[i].Time = base().Add(time.Duration(i) * 6 * time.Hour)
		recs[i].RequestBody, recs[i].ResponseBody = `{"messages":[]}`, "answer"
	}
	recs[2].RequestBody, recs[2].ResponseBody = "", "" // nothing to blank
	write(t, s, recs)
	from, to := recs[1].Time, recs[5].Time
	n, err := bb.BlankBodies(context.Background(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 { // records 1, 3 and 4
		t.Errorf("BlankBodies changed %d records, want 3", n)
	}
	if n, err := bb.BlankBodies(context.Background(), from, to); err != nil || n != 0 {
		t.Errorf("second pass: %d, %v", n, err)
	}
	got := all(t, s)
	if len(got) != len(recs) {
		t.Fatalf("%d records left, want %d", len(got), len(recs))
	}
	for i, r := range got {
		blank := i >= 1 && i < 5
		if (r.RequestBody == "") != (blank || i == 2) || (r.ResponseBody == "") != (blank || i == 2) {
			t.Errorf("record %d: bodies %q %q", i, r.RequestBody, r.ResponseBody)
		}
		if r.RequestID != recs[i].RequestID || r.TotalTokens != recs[i].TotalTokens {
			t.Errorf("record %d changed beyond its bodies: %+v", i, r)
		}
	}
}
