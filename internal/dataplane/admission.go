package dataplane

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/moat-gw/moat/internal/httpx"
	"github.com/moat-gw/moat/internal/openai"
	"github.com/moat-gw/moat/internal/ratelimit"
)

// Admission reserves a call's tokens on an upper bound of its prompt (its
// text's bytes: no byte-level BPE count exceeds them, see
// tokens.Counter.PromptBound), read from the body in a fraction of a microsecond
// per KiB, instead of tokenizing the prompt on every call. The prompt is
// counted exactly only when the bound comes near a limit's budget:
//
//   - the bound does not fit (a token or quota denial): the call counts
//     its prompt, tightens the other calls in flight on the same limits
//     that still hold a bound (each counts once, and gives its excess back
//     with Reservation.Adjust), and asks again with the exact count; so a
//     call is refused only when the exact counts would refuse it too;
//   - the bound fits, but what the limit has left after it is less than
//     the bound: the call counts now and gives its excess back at once, so
//     the next call sees the budget an exact count leaves.
//
// Far from a limit a call keeps its bound until it settles to its real
// usage, as every call did before. A replica can tighten only its own
// calls: with Redis, another replica's bounds in flight are given back
// when they settle.

// admitTokens reserves reqs for a call whose limits count tokens.
func (p *Pipeline) admitTokens(ctx context.Context, s *scope, reqs []ratelimit.Request) (*ratelimit.Reservation, error) {
	out := 0
	if s.call.Operation.ReservesOutput {
		out = p.outputAllowance(s)
	}
	bound := 0
	if !s.call.Operation.Multipart && s.req != nil {
		bound = p.tokens.PromptBound(s.req)
	}
	if bound == 0 {
		setTokens(reqs, out)
		return p.limiter.Reserve(ctx, p.now(), reqs)
	}
	// In the set before it reserves, so that a call refused meanwhile
	// waits for this reservation and can tighten it.
	c := p.loose.add(reqs, s, out)
	setTokens(reqs, bound+out)
	res, err := p.limiter.Reserve(ctx, p.now(), reqs)
	c.ready(res)
	if err != nil {
		p.loose.remove(c)
		if !tokenDenial(err) {
			return nil, err
		}
		exact, cerr := p.promptTokens(ctx, s)
		if cerr != nil { // the client left while its prompt was counted
			return nil, httpx.Gone(httpx.KindClientCanceled, cerr)
		}
		if exact >= bound {
			return nil, err
		}
		setTokens(reqs, exact+out)
		for {
			tightened := p.loose.tighten(ctx, p, reqs)
			res, err = p.limiter.Reserve(ctx, p.now(), reqs)
			if err == nil || !tightened || !tokenDenial(err) {
				return res, err
			}
		}
	}
	s.loose = c
	if near(res, bound) {
		c.once.Do(func() {
			c.tight.Store(true)
			exact, cerr := p.promptTokens(ctx, s)
			if cerr != nil || exact >= bound {
				return
			}
			if aerr := res.Adjust(ctx, p.now(), exact+out); aerr != nil {
				p.log.Warn("adjust rate-limit reservation", "request_id", s.id, "err", aerr)
				return
			}
			// The x-ratelimit-remaining-* headers report the exact charge.
			if res.RemainingTokens >= 0 {
				res.RemainingTokens += bound - exact
			}
			if res.RemainingQuota >= 0 {
				res.RemainingQuota += int64(bound - exact)
			}
		})
	}
	return res, nil
}

func tokenDenial(err error) bool {
	var d *ratelimit.Denial
	return errors.As(err, &d) && (d.Kind == ratelimit.DeniedTokens || d.Kind == ratelimit.DeniedQuota)
}

func setTokens(reqs []ratelimit.Request, n int) {
	for i := range reqs {
		reqs[i].Tokens = n
	}
}

// near reports whether a token budget the reservation left is below the
// bound it reserved: the next call like it would not fit on its bound.
func near(res *ratelimit.Reservation, bound int) bool {
	return (res.RemainingTokens >= 0 && res.RemainingTokens < bound) ||
		(res.RemainingQuota >= 0 && res.RemainingQuota < int64(bound))
}

// looseSet holds the calls in flight whose reservation is an upper bound.
type looseSet struct {
	mu sync.Mutex
	m  map[*looseCall]struct{}
}

// looseCall is one call in flight on a bound.
type looseCall struct {
	keys   []string // the limits it holds, in keyBuf unless there are more
	keyBuf [4]string
	out    int
	model  string
	req    *openai.Request
	id     string
	// reserved is done once res is set (nil: the reservation was refused).
	reserved sync.WaitGroup
	res      *ratelimit.Reservation
	// once counts the prompt exactly at most once, and tight says it did;
	// a settle waits on once so the body is not released while another
	// call reads it.
	once  sync.Once
	tight atomic.Bool
}

func (c *looseCall) ready(res *ratelimit.Reservation) {
	c.res = res
	c.reserved.Done()
}

func (l *looseSet) add(reqs []ratelimit.Request, s *scope, out int) *looseCall {
	c := &looseCall{out: out, model: s.deployment.model, req: s.req, id: s.id}
	c.keys = c.keyBuf[:0]
	c.reserved.Add(1)
	for i := range reqs {
		c.keys = append(c.keys, reqs[i].Limit.Key)
	}
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[*looseCall]struct{})
	}
	l.m[c] = struct{}{}
	l.mu.Unlock()
	return c
}

// remove takes c out of the set before its reservation settles, waiting
// for a tightening of it that is under way.
func (l *looseSet) remove(c *looseCall) {
	if c == nil {
		return
	}
	l.mu.Lock()
	delete(l.m, c)
	l.mu.Unlock()
	c.once.Do(func() { c.tight.Store(true) })
}

// tighten counts exactly the prompts of the calls in flight on a bound
// that hold one of reqs' limits, and gives their excess back. It reports
// whether it found any such call not yet tightened.
func (l *looseSet) tighten(ctx context.Context, p *Pipeline, reqs []ratelimit.Request) bool {
	var calls []*looseCall
	l.mu.Lock()
	for c := range l.m {
		if !c.tight.Load() && sharesLimit(c.keys, reqs) {
			calls = append(calls, c)
		}
	}
	l.mu.Unlock()
	for _, c := range calls {
		c.once.Do(func() {
			defer c.tight.Store(true)
			c.reserved.Wait()
			if c.res == nil {
				return
			}
			n, err := p.tokens.PromptWithin(ctx, c.model, c.req, p.maxExactCount)
			if err != nil {
				return
			}
			if aerr := c.res.Adjust(ctx, p.now(), n+c.out); aerr != nil {
				p.log.Warn("adjust rate-limit reservation", "request_id", c.id, "err", aerr)
			}
		})
	}
	return len(calls) > 0
}
func sharesLimit(keys []string, reqs []ratelimit.Request) bool {
	for _, k := range keys {
		for i := range reqs {
			if reqs[i].Limit.Key == k {
				return true
			}
		}
	}
	return false
}
