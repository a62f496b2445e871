package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/affinity"
)

// testPins: a pin is read back to the microsecond until it expires, a second
// put replaces it, delete forgets it, and the sweep removes expired pins only.
func testPins(t *testing.T, open Opener) {
	s, ok := open(t).(affinity.Store)
	if !ok {
		t.Fatal("the store does not keep pins (affinity.Store)")
	}
	ctx := context.Background()
	t0 := base().Add(123456 * time.Microsecond)
	a := affinity.Pin{ID: "resp_a", Kind: affinity.KindResponse, Deployment: "chat", Member: "east",
		Created: t0, Expires: t0.Add(time.Hour)}
	b := affinity.Pin{ID: "file-b", Kind: affinity.KindFile, Deployment: "batch", Member: "west",
		Created: t0, Expires: t0.Add(2 * time.Hour)}
	for _, p := range []affinity.Pin{a, b} {
		if err := s.PutPin(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetPin(ctx, "resp_a", t0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("pin (-want +got):\n%s", diff)
	}
	if _, err := s.GetPin(ctx, "resp_a", t0.Add(time.Hour)); !errors.Is(err, affinity.ErrNotFound) {
		t.Errorf("expired pin: err = %v, want ErrNotFound", err)
	}
	if _, err := s.GetPin(ctx, "resp_none", t0); !errors.Is(err, affinity.ErrNotFound) {
		t.Errorf("unknown pin: err = %v, want ErrNotFound", err)
	}
	a.Member = "west"
	if err := s.PutPin(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetPin(ctx, "resp_a", t0); err != nil || got.Member != "west" {
		t.Errorf("replaced pin: %+v, %v", got, err)
	}
	n, err := s.DeleteExpiredPins(ctx, t0.Add(90*time.Minute))
	if err != nil || n != 1 {
		t.Errorf("sweep: %d, %v; want 1 removed", n, err)
	}
	if _, err := s.GetPin(ctx, "file-b", t0); err != nil {
		t.Errorf("unexpired pin swept: %v", err)
	}
	if err := s.DeletePin(ctx, "file-b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetPin(ctx, "file-b", t0); !errors.Is(err, affinity.ErrNotFound) {
		t.Errorf("deleted pin: err = %v, want ErrNotFound", err)
	}
	if err := s.DeletePin(ctx, "file-b"); err != nil {
		t.Errorf("deleting an unknown pin: %v", err)
	}
}
