package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/moat-gw/moat/internal/fleet"
)

// testReplicas: a heartbeat inserts a replica's row, the next replaces it,
// and rows come back by name with times to the microsecond.
func testReplicas(t *testing.T, open Opener) {
	s, ok := open(t).(fleet.Store)
	if !ok {
		t.Fatal("the store does not keep the replicas table (fleet.Store)")
	}
	ctx := context.Background()
	t0 := base().Add(123456 * time.Microsecond)
	b := fleet.Replica{Name: "moat-b", Version: "v1", Fingerprint: "f1", Limits: "team-tpm=tpm:20000", State: fleet.StateServing,
		Started: t0, LastSeen: t0}
	a := fleet.Replica{Name: "moat-a", Version: "v1", Fingerprint: "f2", State: fleet.StateServing, Started: t0, LastSeen: t0}
	for _, r := range []fleet.Replica{b, a} {
		if err := s.Heartbeat(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	b.LastSeen, b.State = t0.Add(15*time.Second), fleet.StateStopped
	if err := s.Heartbeat(ctx, b); err != nil {
		t.Fatal(err)
	}
	got, err := s.Replicas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]fleet.Replica{a, b}, got); diff != "" {
		t.Errorf("replicas (-want +got):\n%s", diff)
	}
}
