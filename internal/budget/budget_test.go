package budget

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/ratelimit"
)

func TestAdmitSettle(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	set, err := New([]Rule{
		{Name: "team-day", Scope: ScopeTeam, Period: ratelimit.PeriodDay, Amount: 1.00, WarnAt: 0.5},
		{Name: "dep-month", Scope: ScopeDeployment, Match: []string{"gpt-4o"}, Period: ratelimit.PeriodMonth, Tokens: 1000},
	}, nil, ratelimit.NewLocal())
	if err != nil {
		t.Fatal(err)
	}
	call := Call{Team: "search", Key: "k1", Deployment: "gpt-4o"}
	// Reserve 0.40 and 300 tokens, settle to 0.30 and 200.
	a, warns, err := set.Admit(ctx, now, call, 0.40, 300)
	if err != nil || len(warns) != 0 || len(a.parts) != 2 {
		t.Fatalf("first admit: %v, %v, %+v", err, warns, a)
	}
	if err := a.Settle(ctx, now, 0.30, 200); err != nil {
		t.Fatal(err)
	}
	// 0.30 used: a 0.35 estimate brings it to 0.65, past the 0.5 warning.
	a, warns, err = set.Admit(ctx, now, call, 0.35, 100)
	if err != nil || len(warns) != 1 || warns[0].Budget != "team-day" || warns[0].Instance != "search" {
		t.Fatalf("second admit: %v, %+v", err, warns)
	}
	if warns[0].Used < 0.649 || warns[0].Limit != 1 {
		t.Errorf("warning amounts %+v", warns[0])
	}
	if err := a.Settle(ctx, now, 0.35, 100); err != nil {
		t.Fatal(err)
	}
	// 0.65 used: 0.40 more does not fit.
	_, _, err = set.Admit(ctx, now, call, 0.40, 1)
	var d *Denied
	if !errors.As(err, &d) || d.Budget != "team-day" || d.Unit != UnitCost {
		t.Fatalf("over budget: %v", err)
	}
	he := d.HTTPError()
	if he.Status != 403 || he.Shape != httpx.ShapeStatus || he.Message != "Out of call volume quota. Quota will be replenished in 12:00:00." ||
		he.Header.Get("Retry-After") != "43200" {
		t.Errorf("answer %d %s %v", he.Status, he.Message, he.Header)
	}
	// The refused call's other reservations were cancelled: the token
	// budget still holds 700.
	if _, _, err := set.Admit(ctx, now, Call{Deployment: "gpt-4o"}, 0, 700); err != nil {
		t.Errorf("token budget after a refused call: %v", err)
	}
	_, _, err = set.Admit(ctx, now, Call{Deployment: "gpt-4o"}, 0, 1)
	if !errors.As(err, &d) || d.Unit != UnitTokens || !strings.Contains(d.HTTPError().Message, "Token quota is exceeded") {
		t.Fatalf("token budget exhausted: %v", err)
	}
	// Another team has its own budget; the next day starts afresh; an
	// unmatched deployment has none.
	if _, _, err := set.Admit(ctx, now, Call{Team: "ads"}, 0.9, 1); err != nil {
		t.Errorf("other team: %v", err)
	}
	if _, _, err := set.Admit(ctx, now.Add(24*time.Hour), call, 0.9, 1); err == nil {
		// the month's token budget is still exhausted
	} else if !errors.As(err, &d) || d.Budget != "dep-month" {
		t.Errorf("next day: %v", err)
	}
	if _, _, err := set.Admit(ctx, now.Add(24*time.Hour), Call{Team: "search", Deployment: "other"}, 0.9, 1); err != nil {
		t.Errorf("next day, team budget renewed: %v", err)
	}
}

func TestTimeZone(t *testing.T) {
	ctx := context.Background()
	tokyo := time.FixedZone("JST", 9*3600)
	set, err := New([]Rule{{Name: "d", Scope: ScopeTeam, Period: ratelimit.PeriodDay, Tokens: 10}}, tokyo, ratelimit.NewLocal())
	if err != nil {
		t.Fatal(err)
	}
	before := time.Date(2026, 3, 10, 14, 59, 0, 0, time.UTC) // 23:59 in Tokyo
	if _, _, err := set.Admit(ctx, before, Call{Team: "x"}, 0, 10); err != nil {
		t.Fatal(err)
	}
	if _, _, err := set.Admit(ctx, before, Call{Team: "x"}, 0, 1); err == nil {
		t.Fatal("budget exceeded")
	}
	if _, _, err := set.Admit(ctx, before.Add(2*time.Minute), Call{Team: "x"}, 0, 10); err != nil {
		t.Errorf("after midnight in Tokyo: %v", err)
	}
}

func TestApimSpan(t *testing.T) {
	for secs, want := range map[int]string{1: "00:00:01", 3661: "01:01:01", 443591: "5.03:13:11"} {
		if got := apimSpan(secs); got != want {
			t.Errorf("apimSpan(%d) = %q, want %q", secs, got, want)
		}
	}
}

func TestApplies(t *testing.T) {
	set, err := New([]Rule{{Name: "t", Scope: ScopeTeam, Match: []string{"search"}, Period: ratelimit.PeriodDay, Tokens: 1}}, nil, ratelimit.NewLocal())
	if err != nil {
		t.Fatal(err)
	}
	for c, want := range map[Call]bool{{Team: "search"}: true, {Team: "ads"}: false, {Key: "k"}: false} {
		if got := set.Applies(c); got != want {
			t.Errorf("Applies(%+v) = %v", c, got)
		}
	}
	var empty *Set
	if empty.Applies(Call{Team: "search"}) {
		t.Error("nil set applies")
	}
}
