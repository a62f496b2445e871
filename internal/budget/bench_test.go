package budget

import (
	"context"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/ratelimit"
)

// BenchmarkAdmitSettle is a call's budget work with one team budget in
// currency and tokens on the in-process limiter: two reservations at
// admission, two settles at the end. With Redis each reservation and
// settle is one round trip more.
func BenchmarkAdmitSettle(b *testing.B) {
	set, err := New([]Rule{{Name: "team", Scope: ScopeTeam, Period: ratelimit.PeriodMonth, Amount: 1e9, Tokens: 1 << 60}},
		nil, ratelimit.NewLocal())
	if err != nil {
		b.Fatal(err)
	}
	ctx, now := context.Background(), time.Unix(1_800_000_000, 0)
	call := Call{Team: "search", Key: "k", Deployment: "gpt-4o"}
	b.ReportAllocs()
	for b.Loop() {
		a, _, err := set.Admit(ctx, now, call, 0.01, 1000)
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Settle(ctx, now, 0.008, 800); err != nil {
			b.Fatal(err)
		}
	}
}
