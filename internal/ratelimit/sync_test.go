package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// outage is a go-redis Limiter that refuses every command while on, a
// store outage the test switches without touching the shared Redis.
type outage struct{ on atomic.Bool }

func (o *outage) Allow() error {
	if o.on.Load() {
		return errors.New("store down for the test")
	}
	return nil
}
func (o *outage) ReportResult(error) {}

// outageClient is a client of the test Redis whose commands fail while
// the returned outage is on; real is a client that always works, for checks.
func outageClient(t *testing.T) (c, real *redis.Client, o *outage, prefix string) {
	t.Helper()
	real = testRedisClient(t)
	prefix = testPrefix(t, real)
	o = &outage{}
	opts := ClientOptions(real.Options().Addr, "", 0, time.Second)
	opts.Limiter = o
	c = redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c, real, o, prefix
}

// windowSum adds up a token window hash in Redis, skipping the L field.
func windowSum(t *testing.T, c *redis.Client, key string) int64 {
	t.Helper()
	m, err := c.HGetAll(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for f, v := range m {
		if f == "L" {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		sum += n
	}
	return sum
}

// flush deletes every key under prefix: a Redis restarted empty.
func flush(t *testing.T, c *redis.Client, prefix string) {
	t.Helper()
	ctx := context.Background()
	it := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for it.Next(ctx) {
		c.Del(ctx, it.Val())
	}
}

// step is one call of a scenario: a replica reserves (and settles) at a
// fake time, and the outcome is checked.
type step struct {
	name    string
	replica int
	at      time.Duration
	tokens  int
	settle  int        // settle to this when admitted (-1: leave open)
	want    DenialKind // "" admitted
	cause   error      // checked with errors.Is on a denial, when set
	before  func()     // runs first: an outage, a flush, the hold ending
	sum     int64      // Redis window total after the step (-1: unchecked)
}

func runSteps(t *testing.T, c *redis.Client, prefix string, ls []*Redis, lim *Limit, steps []step) {
	t.Helper()
	ctx := context.Background()
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		now := t0.Add(s.at)
		r, err := ls[s.replica].Reserve(ctx, now, reqs(s.tokens, lim))
		var d *Denial
		got := DenialKind("")
		if errors.As(err, &d) {
			got = d.Kind
		} else if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got != s.want {
			t.Fatalf("%s: denial %q, want %q (err %v)", s.name, got, s.want, err)
		}
		if s.cause != nil && (d == nil || !errors.Is(d.Err, s.cause)) {
			t.Fatalf("%s: denial cause %v, want %v", s.name, err, s.cause)
		}
		if r != nil && s.settle >= 0 {
			if err := r.Settle(ctx, now, s.settle); err != nil {
				t.Fatalf("%s: settle: %v", s.name, err)
			}
		}
		if s.sum >= 0 {
			if got := windowSum(t, c, prefix+"t:"+lim.Key); got != s.sum {
				t.Fatalf("%s: Redis window holds %d tokens, want %d", s.name, got, s.sum)
			}
		}
	}
}

// TestRedisReseedsEmptiedStore: two replicas admit, Redis loses everything
// (a restart without persistence), and before anyone admits again both
// put their part back, so the window still respects the limit.
func TestRedisReseedsEmptiedStore(t *testing.T) {
	c := testRedisClient(t)
	prefix := testPrefix(t, c)
	ls := []*Redis{NewRedis(c, RedisOptions{Prefix: prefix, Hold: time.Minute}), NewRedis(c, RedisOptions{Prefix: prefix, Hold: time.Minute})}
	lim := &Limit{Key: "dep|deployment:x", TPM: 1000}
	endHold := func() { c.Del(context.Background(), prefix+"hold") }
	s := time.Second
	runSteps(t, c, prefix, ls, lim, []step{
		{name: "a admits", replica: 0, tokens: 300, settle: 300, sum: 300},
		{name: "b admits and uses less", replica: 1, at: s, tokens: 200, settle: 150, sum: 450},
		{name: "redis restarts empty; a re-seeds and holds the fleet", replica: 0, at: 2 * s, tokens: 100, settle: -1,
			want: DeniedUnavailable, cause: errHold, before: func() { flush(t, c, prefix) }, sum: 300},
		{name: "b re-seeds during the hold", replica: 1, at: 2 * s, tokens: 100, settle: -1, want: DeniedUnavailable, cause: errHold, sum: 450},
		{name: "after the hold the window is whole: 550 fit", replica: 0, at: 3 * s, tokens: 550, settle: 550, before: endHold, sum: 1000},
		{name: "and one more token does not", replica: 1, at: 3 * s, tokens: 1, want: DeniedTokens, sum: 1000},
		{name: "the re-seeded buckets leave the window on time", replica: 1, at: 61 * s, tokens: 300, settle: 300, sum: 850},
	})
	for i, l := range ls {
		if st := l.Stats(); st.Reseeds != 1 {
			t.Errorf("replica %d: stats %+v, want one re-seed", i, st)
		}
	}
}

// TestRedisReseedIsIdempotent sends one re-seed batch twice, as a retry
// after a lost reply would, and checks it counts once.
func TestRedisReseedIsIdempotent(t *testing.T) {
	ctx := context.Background()
	c := testRedisClient(t)
	prefix := testPrefix(t, c)
	l := NewRedis(c, RedisOptions{Prefix: prefix})
	if err := l.sync(ctx, t0, true); err != nil {
		t.Fatal(err)
	}
	lim := Limit{Key: "k", TPM: 1000, RPM: 10, Quota: 5000, QuotaPeriod: PeriodDay}
	qs, qe := PeriodDay.Bounds(t0)
	bs := l.batches([]contribution{{lim: lim, buckets: [][3]int64{{t0.Unix() - 5, 40, 2}, {t0.Unix() - 90, 7, 1}},
		qStart: qs.Unix(), qEnd: qe.Unix(), q: 40}}, t0)
	if len(bs) != 1 {
		t.Fatalf("batches = %d, want 1", len(bs))
	}
	b := bs[0]
	b.args[0] = l.epochValue()
	for i, want := range []int64{0, 1} {
		n, err := applyScript.Run(ctx, c, b.keys, b.args...).Int64()
		if err != nil || n != want {
			t.Fatalf("apply %d = %d, %v; want %d", i, n, err, want)
		}
	}
	qKey := prefix + "q:k:day:" + strconv.FormatInt(qs.Unix(), 10)
	if got := windowSum(t, c, prefix+"t:k"); got != 40 {
		t.Errorf("tokens = %d, want 40 (once, and not the bucket that left the window)", got)
	}
	if got := windowSum(t, c, prefix+"r:k"); got != 2 {
		t.Errorf("requests = %d, want 2", got)
	}
	if v, _ := c.Get(ctx, qKey).Int64(); v != 40 {
		t.Errorf("quota = %d, want 40", v)
	}
	c.Set(ctx, prefix+"epoch", "another", 0)
	if n, _ := applyScript.Run(ctx, c, b.keys, b.args...).Int64(); n != 2 {
		t.Errorf("apply under another epoch = %d, want 2 (refused)", n)
	}
}

// TestRedisMergesLocalShare: while Redis is away a local_share replica
// admits against its share counting what it already admitted through
// Redis; settles that cannot reach Redis are kept; when Redis is back,
// everything is merged before shared admission resumes.
func TestRedisMergesLocalShare(t *testing.T) {
	oc, c, o, prefix := outageClient(t)
	l := NewRedis(oc, RedisOptions{Prefix: prefix, RetryInterval: 2 * time.Second, Hold: time.Minute})
	lim := &Limit{Key: "dep|deployment:y", TPM: 1000, OnBackendDown: LocalShare, LocalShare: 0.5}
	ctx := context.Background()
	s := time.Second
	r1, err := l.Reserve(ctx, t0, reqs(200, lim))
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, c, prefix, []*Redis{l}, lim, []step{
		{name: "down: the share counts the 200 admitted through Redis", at: s, tokens: 300, settle: -1,
			before: func() { o.on.Store(true) }, sum: 200},
		{name: "the share is spent", at: s, tokens: 1, want: DeniedTokens, sum: -1},
	})
	if err := r1.Settle(ctx, t0.Add(s), 50); err != nil {
		t.Fatalf("settle while down: %v", err)
	}
	if got := windowSum(t, c, prefix+"t:"+lim.Key); got != 200 {
		t.Fatalf("a settle while down reached Redis: %d", got)
	}
	endHold := func() { c.Del(ctx, prefix+"hold") }
	runSteps(t, c, prefix, []*Redis{l}, lim, []step{
		{name: "back: merges +300 and -150, holds, admits by its share and charges Redis at once", at: 3 * s, tokens: 100, settle: -1,
			before: func() { o.on.Store(false) }, sum: 450},
		{name: "after the hold: admits through Redis", at: 4 * s, tokens: 1, settle: -1, before: endHold, sum: 451},
		{name: "the merged window limits", at: 5 * s, tokens: 550, want: DeniedTokens, sum: 451},
	})
	if st := l.Stats(); st.Merges != 1 || st.StoreDown {
		t.Errorf("stats = %+v, want 1 merge, store up", st)
	}
}

// TestRedisHeldAdmissionInRedis: a local_share admission made during a
// hold is in Redis before the hold ends. It used to wait for the
// replica's next sync, so another replica admitting through Redis just
// after the hold found a window without it: TestRedisFrozenLocalShare saw
// 20,010 tokens of 20,000 that way (the replicas' shares had nearly
// filled the window during the hold).
func TestRedisHeldAdmissionInRedis(t *testing.T) {
	c := testRedisClient(t)
	prefix := testPrefix(t, c)
	ls := []*Redis{NewRedis(c, RedisOptions{Prefix: prefix}), NewRedis(c, RedisOptions{Prefix: prefix})}
	lim := &Limit{Key: "dep|deployment:h", TPM: 1000, OnBackendDown: LocalShare, LocalShare: 0.5}
	ctx := context.Background()
	hold := func() { c.Set(ctx, prefix+"hold", "1", time.Minute) }
	endHold := func() { c.Del(ctx, prefix+"hold") }
	s := time.Second
	runSteps(t, c, prefix, ls, lim, []step{
		{name: "a admits through Redis", replica: 0, tokens: 400, settle: -1, sum: 400},
		{name: "b admits through Redis", replica: 1, tokens: 100, settle: -1, sum: 500},
		{name: "during a hold b admits by its share, charged to Redis at once, and settles through Redis", replica: 1, at: s,
			tokens: 200, settle: 150, before: hold, sum: 650},
		{name: "after the hold a finds it in the window", replica: 0, at: 2 * s, tokens: 400, want: DeniedTokens, before: endHold, sum: 650},
		{name: "what is left fits", replica: 0, at: 2 * s, tokens: 350, settle: -1, sum: 1000},
	})
	if err := ls[1].sync(ctx, t0.Add(3*s), true); err != nil {
		t.Fatal(err)
	}
	if got := windowSum(t, c, prefix+"t:"+lim.Key); got != 1000 {
		t.Errorf("Redis window holds %d tokens after b's next sync, want 1000 (nothing merged twice)", got)
	}
	if st := ls[1].Stats(); st.Holds != 1 || st.Merges != 0 || st.FallbackReserves != 0 {
		t.Errorf("b's stats = %+v, want 1 hold, nothing to merge, no fallback", st)
	}
}

// heldHook is a client that runs hook just before the held script's
// EVALSHA (an error from hook fails the script without sending it), and
// after just after it.
type heldHook struct {
	*redis.Client
	hook  func() error
	after func()
}

func (h *heldHook) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	if sha1 != heldScript.Hash() {
		return h.Client.EvalSha(ctx, sha1, keys, args...)
	}
	if h.hook != nil {
		if err := h.hook(); err != nil {
			cmd := redis.NewCmd(ctx)
			cmd.SetErr(err)
			return cmd
		}
	}
	cmd := h.Client.EvalSha(ctx, sha1, keys, args...)
	if h.after != nil {
		h.after()
	}
	return cmd
}

// heldSetup is a limiter on a heldHook client, a local_share limit of
// 1,000 TPM with a share of 0.5 under key, and the plain client and
// prefix the test checks Redis with.
func heldSetup(t *testing.T, key string) (c *redis.Client, prefix string, h *heldHook, l *Redis, lim *Limit) {
	t.Helper()
	c = testRedisClient(t)
	prefix = testPrefix(t, c)
	h = &heldHook{Client: c}
	l = NewRedis(h, RedisOptions{Prefix: prefix})
	return c, prefix, h, l, &Limit{Key: key, TPM: 1000, OnBackendDown: LocalShare, LocalShare: 0.5}
}

// TestRedisHoldEndsBeforeHeldCharge: the hold ends between the answer a
// call met it in and its held charge. The charge changes nothing, the
// local admission is undone, and the call reserves through Redis, which
// denies it: the local share would have admitted it.
func TestRedisHoldEndsBeforeHeldCharge(t *testing.T) {
	ctx := context.Background()
	c, prefix, h, l, lim := heldSetup(t, "dep|deployment:e")
	other := NewRedis(c, RedisOptions{Prefix: prefix})
	s := time.Second
	h.hook = func() error { c.Del(ctx, prefix+"hold"); return nil }
	runSteps(t, c, prefix, []*Redis{l, other}, lim, []step{
		{name: "this replica admits through Redis", tokens: 100, settle: -1, sum: 100},
		{name: "another one too", replica: 1, tokens: 800, settle: -1, sum: 900},
		{name: "a hold that ends before the held charge: Redis decides", at: s, tokens: 150, want: DeniedTokens,
			before: func() { c.Set(ctx, prefix+"hold", "1", time.Minute) }, sum: 900},
	})
	sc := l.own.scope(lim.Key, t0)
	if tok, req := sc.w.sums(t0.Add(s).Unix()); tok != 100 || req != 1 || sc.inflight != 1 {
		t.Errorf("shadow holds %d tokens, %d requests, %d in flight; want the undone admission gone (100, 1, 1)", tok, req, sc.inflight)
	}
}

// TestRedisHoldKeepsEnding: every hold the call meets ends just before its
// held charge, and a new one starts just after. After maxHeldAttempts the
// call is refused rather than admitted locally (merged later, it could
// miss the window), and it leaves nothing charged.
func TestRedisHoldKeepsEnding(t *testing.T) {
	ctx := context.Background()
	c, prefix, h, l, lim := heldSetup(t, "dep|deployment:k")
	setHold := func() { c.Set(ctx, prefix+"hold", "1", time.Minute) }
	h.hook, h.after = func() error { c.Del(ctx, prefix+"hold"); return nil }, setHold
	s := time.Second
	runSteps(t, c, prefix, []*Redis{l}, lim, []step{
		{name: "admits through Redis", tokens: 100, settle: 100, sum: 100},
		{name: "refused after the holds kept ending", at: s, tokens: 50, want: DeniedUnavailable, cause: errHold,
			before: setHold, sum: 100},
	})
	sc := l.own.scope(lim.Key, t0)
	if tok, _ := sc.w.sums(t0.Add(s).Unix()); tok != 100 || sc.inflight != 0 || sc.pend != nil {
		t.Errorf("shadow holds %d tokens, %d in flight, pending %v; want 100, 0, none", tok, sc.inflight, sc.pend)
	}
	if st := l.Stats(); st.Holds != maxHeldAttempts {
		t.Errorf("holds = %d, want %d", st.Holds, maxHeldAttempts)
	}
}

// TestRedisHeldChargeFails: Redis stops answering between the hold and
// the held charge. The admission stands as an outage's does, and the next
// sync merges it.
func TestRedisHeldChargeFails(t *testing.T) {
	ctx := context.Background()
	c, prefix, h, l, lim := heldSetup(t, "dep|deployment:f")
	s := time.Second
	h.hook = func() error { return errors.New("store down for the test") }
	runSteps(t, c, prefix, []*Redis{l}, lim, []step{
		{name: "admits through Redis", tokens: 100, settle: -1, sum: 100},
		{name: "admitted by its share although the held charge failed", at: s, tokens: 150, settle: -1,
			before: func() { c.Set(ctx, prefix+"hold", "1", time.Minute) }, sum: 100},
	})
	if st := l.Stats(); !st.StoreDown || st.StoreErrors != 1 {
		t.Fatalf("stats = %+v, want the store marked down after the failed charge", st)
	}
	h.hook = nil
	if err := l.sync(ctx, t0.Add(2*s), true); err != nil {
		t.Fatal(err)
	}
	if got := windowSum(t, c, prefix+"t:"+lim.Key); got != 250 {
		t.Errorf("Redis window holds %d tokens after the sync, want 250 (the admission merged)", got)
	}
}

// lostSettle is a client whose settle scripts fail: after running in
// Redis (sent, the answer lost, as when Redis froze after reading them and
// runs them when it thaws, long after the caller gave up) or without
// being sent (no connection could be made).
type lostSettle struct {
	*redis.Client
	sent bool
}

func (c *lostSettle) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	if sha1 != settleScript.Hash() {
		return c.Client.EvalSha(ctx, sha1, keys, args...)
	}
	var err error = &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused (for the test)")}
	if c.sent {
		if err = c.Client.EvalSha(ctx, sha1, keys, args...).Err(); err == nil {
			err = errors.New("i/o timeout (the answer lost for the test)")
		}
	}
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(err)
	return cmd
}

// TestRedisSettleLost: a settle fails. When Redis ran it and only the
// answer was lost, its refund is not merged again (it would be given
// twice, and the window would count less than was admitted); its increase
// is, since counting that twice is only too strict. When it was never
// sent, all of it is merged.
func TestRedisSettleLost(t *testing.T) {
	for _, tc := range []struct {
		name               string
		sent               bool
		before, afterMerge int64
	}{
		// 300 and 100 reserved, settled to 100 (-200) and 150 (+50): 250 admitted.
		// The merge used to carry the -200 again when Redis had run it: 100.
		{"answer lost", true, 250, 300},
		{"never sent", false, 400, 250},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := testRedisClient(t)
			prefix := testPrefix(t, c)
			l := NewRedis(&lostSettle{Client: c, sent: tc.sent}, RedisOptions{Prefix: prefix})
			lim := &Limit{Key: "dep|deployment:l", TPM: 1000}
			key := prefix + "t:" + lim.Key
			s := time.Second
			if err := settleScript.Load(ctx, c).Err(); err != nil { // else EVAL runs it, not the wrapper's EVALSHA
				t.Fatal(err)
			}
			refund, err := l.Reserve(ctx, t0, reqs(300, lim))
			if err != nil {
				t.Fatal(err)
			}
			more, err := l.Reserve(ctx, t0, reqs(100, lim))
			if err != nil {
				t.Fatal(err)
			}
			_ = refund.Settle(ctx, t0.Add(s), 100)
			_ = more.Settle(ctx, t0.Add(s), 150)
			if got := windowSum(t, c, key); got != tc.before {
				t.Fatalf("window = %d after the settles, want %d", got, tc.before)
			}
			if err := l.sync(ctx, t0.Add(2*s), true); err != nil {
				t.Fatal(err)
			}
			if got := windowSum(t, c, key); got != tc.afterMerge {
				t.Errorf("window = %d after the merge, want %d", got, tc.afterMerge)
			}
		})
	}
}

// TestNeverSent: go-redis's error for a Redis that refuses connections is
// one a settle can merge whole.
func TestNeverSent(t *testing.T) {
	c := redis.NewClient(ClientOptions(closedAddr(t), "", 0, time.Second))
	defer c.Close()
	err := c.Ping(context.Background()).Err()
	if err == nil || !neverSent(err) {
		t.Errorf("neverSent(%v) = false, want true", err)
	}
	if neverSent(context.DeadlineExceeded) {
		t.Error("a timeout counted as never sent")
	}
}

// TestRedisLimitDrift: two replicas run the same rule with different
// limits; each finds the other's limit in Redis and says so, once.
func TestRedisLimitDrift(t *testing.T) {
	ctx := context.Background()
	c := testRedisClient(t)
	prefix := testPrefix(t, c)
	var logs bytes.Buffer
	a := NewRedis(c, RedisOptions{Prefix: prefix})
	b := NewRedis(c, RedisOptions{Prefix: prefix, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	mine := &Limit{Key: "per-key|key:k1", TPM: 20000, RPM: 60}
	theirs := &Limit{Key: "per-key|key:k1", TPM: 10000, RPM: 60}
	if _, err := a.Reserve(ctx, t0, reqs(10, mine)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := b.Reserve(ctx, t0.Add(time.Duration(i)*time.Second), reqs(10, theirs)); err != nil {
			t.Fatal(err)
		}
	}
	if len(a.Drifts()) != 0 {
		t.Errorf("replica a saw drift before b wrote its limit: %+v", a.Drifts())
	}
	want := Drift{Rule: "per-key", TPM: 10000, RPM: 60, TheirTPM: 20000, TheirRPM: 60, Seen: t0}
	if got := b.Drifts(); len(got) != 1 || got[0] != want {
		t.Errorf("drifts = %+v, want [%+v]", got, want)
	}
	if n := strings.Count(logs.String(), "rate limit drift"); n != 1 {
		t.Errorf("drift log lines = %d, want 1:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "k1") {
		t.Errorf("drift log names the key: %s", logs.String())
	}
	if _, err := a.Reserve(ctx, t0.Add(3*time.Second), reqs(10, mine)); err != nil {
		t.Fatal(err)
	}
	if got := a.Drifts(); len(got) != 1 || got[0].TheirTPM != 10000 {
		t.Errorf("replica a drifts = %+v, want b's 10000", got)
	}
}

// TestRedisLocalShareUnevenLoad: replica a filled most of the window
// through Redis, b little; when Redis goes away b may not refill the window
// up to its own share, only its share of what Redis last left.
func TestRedisLocalShareUnevenLoad(t *testing.T) {
	ctx := context.Background()
	oc, c, o, prefix := outageClient(t)
	a := NewRedis(c, RedisOptions{Prefix: prefix})
	b := NewRedis(oc, RedisOptions{Prefix: prefix, RetryInterval: time.Hour})
	lim := &Limit{Key: "dep|deployment:u", TPM: 1000, OnBackendDown: LocalShare, LocalShare: 0.5}
	if _, err := a.Reserve(ctx, t0, reqs(800, lim)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Reserve(ctx, t0, reqs(100, lim)); err != nil {
		t.Fatal(err)
	}
	o.on.Store(true)
	// b's own share has 400 left, but Redis last left 100: b gets 50.
	runSteps(t, c, prefix, []*Redis{b}, lim, []step{
		{name: "half of what was left", at: time.Second, tokens: 50, settle: -1, sum: 900},
		{name: "no more", at: 2 * time.Second, tokens: 1, want: DeniedTokens, sum: -1},
		{name: "once that window passed, the own share applies", at: 60 * time.Second, tokens: 400, settle: -1, sum: -1},
	})
}

// TestRedisRunProbes: with Run running, calls never wait on a store that
// may be down; Run finds it back, and shared counting resumes.
func TestRedisRunProbes(t *testing.T) {
	oc, c, o, prefix := outageClient(t)
	l := NewRedis(oc, RedisOptions{Prefix: prefix, RetryInterval: 50 * time.Millisecond, SyncInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	lim := &Limit{Key: "dep|deployment:p", TPM: 1000}
	o.on.Store(true)
	for i := 0; i < 200 && !l.Stats().StoreDown; i++ { // Run notices within a few ticks
		time.Sleep(10 * time.Millisecond)
	}
	if !l.Stats().StoreDown {
		t.Fatal("Run did not notice the outage")
	}
	for range 20 {
		_, err := l.Reserve(context.Background(), time.Now().Add(time.Minute), reqs(1, lim))
		var d *Denial
		if !errors.As(err, &d) || d.Kind != DeniedUnavailable {
			t.Fatalf("call while down: %v, want unavailable", err)
		}
	}
	o.on.Store(false)
	for i := 0; i < 200 && l.Stats().StoreDown; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if st := l.Stats(); st.StoreDown {
		t.Fatalf("Run did not find the store back: %+v", st)
	}
	if _, err := l.Reserve(context.Background(), time.Now(), reqs(1, lim)); err != nil {
		t.Fatalf("call after recovery: %v", err)
	}
	if got := windowSum(t, c, prefix+"t:"+lim.Key); got != 1 {
		t.Errorf("window = %d, want the 1 token admitted after recovery", got)
	}
}

// gatedScripter holds the sync script (the one call that names only the
// epoch key) at a gate once armed, so a test can act while a sync is in
// flight; every other command goes through.
type gatedScripter struct {
	*redis.Client
	epochKey string
	armed    atomic.Bool
	entered  chan struct{} // closed when a sync script reaches the gate
	gate     chan struct{} // closed to let it through
	once     sync.Once
}

func (g *gatedScripter) wait(keys []string) {
	if g.armed.Load() && len(keys) == 1 && keys[0] == g.epochKey {
		g.once.Do(func() { close(g.entered) })
		<-g.gate
	}
}

func (g *gatedScripter) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	g.wait(keys)
	return g.Client.Eval(ctx, script, keys, args...)
}

func (g *gatedScripter) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	g.wait(keys)
	return g.Client.EvalSha(ctx, sha1, keys, args...)
}

// TestRedisNoAdmissionBeforeMerge: when a call starts merging this
// replica's local_share admissions into Redis, a call that comes meanwhile
// waits for the merge. sync used to mark itself done as it began, so that
// call admitted through Redis against a window that still lacked them: 1 +
// 65 admitted and 40 merged after, 106 of a limit of 100.
// TestRedisFrozenLocalShare saw it as 20,010 tokens of 20,000: while Run
// has a store marked down, calls admit locally; some of those come after
// Run's merge has taken its snapshot, and once Run marks the store up the
// first call merges them while the others admit through Redis.
func TestRedisNoAdmissionBeforeMerge(t *testing.T) {
	oc, c, o, prefix := outageClient(t)
	g := &gatedScripter{Client: oc, epochKey: prefix + "epoch", entered: make(chan struct{}), gate: make(chan struct{})}
	l := NewRedis(g, RedisOptions{Prefix: prefix, RetryInterval: 2 * time.Second, Hold: time.Minute})
	l.running.Store(true) // as under Run: calls never probe a store marked down
	lim := &Limit{Key: "dep|deployment:z", TPM: 100, OnBackendDown: LocalShare, LocalShare: 0.5}
	ctx := context.Background()
	s := time.Second
	if _, err := l.Reserve(ctx, t0, reqs(1, lim)); err != nil {
		t.Fatal(err)
	}
	o.on.Store(true)
	if _, err := l.Reserve(ctx, t0.Add(s), reqs(40, lim)); err != nil {
		t.Fatalf("local_share admission while Redis is down: %v", err)
	}
	o.on.Store(false)
	l.storeUp() // Run found the store back; the 40 are still to merge
	g.armed.Store(true)

	type result struct {
		r   *Reservation
		err error
	}
	first, second := make(chan result, 1), make(chan result, 1)
	go func() { r, err := l.Reserve(ctx, t0.Add(3*s), reqs(1, lim)); first <- result{r, err} }()
	select {
	case <-g.entered: // the first call's sync is in flight, the 40 not yet merged
	case <-time.After(10 * time.Second):
		t.Fatal("the first call did not sync")
	}
	go func() { r, err := l.Reserve(ctx, t0.Add(3*s), reqs(65, lim)); second <- result{r, err} }()
	var got result
	done := false
	select {
	case got = <-second: // the old code: admitted through Redis at once
		done = true
	case <-time.After(300 * time.Millisecond): // waiting for the merge, as it should
	}
	close(g.gate)
	<-first
	if !done {
		got = <-second
	}
	if got.r != nil {
		t.Errorf("65 tokens admitted while 40 of 100 were being merged")
	}
	var d *Denial
	if got.err != nil && !errors.As(got.err, &d) {
		t.Errorf("second call: %v, want a denial", got.err)
	}
	if sum := windowSum(t, c, prefix+"t:"+lim.Key); sum > 100 {
		t.Errorf("Redis window holds %d tokens, over the limit of 100", sum)
	}
}
