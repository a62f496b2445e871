package affinity_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/moat-gw/moat/internal/affinity"
)

// BenchmarkTableGetCached is the cost a pinned call pays when this replica
// already knows the pin (the common case: the client talks to one replica,
// or the pin was read once).
func BenchmarkTableGetCached(b *testing.B) {
	ctx := context.Background()
	tb := affinity.NewTable(affinity.Options{})
	for i := range 10_000 {
		_ = tb.Put(ctx, affinity.KindResponse, fmt.Sprintf("resp_%d", i), "chat", "east")
	}
	i := 0
	for b.Loop() {
		if _, err := tb.Get(ctx, fmt.Sprintf("resp_%d", i%10_000)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
