package reqlog

import (
	"context"
	"time"
)

// Follower reads the log as it grows, each record once, in the order the
// records become visible. Paging on "id > last" alone skips rows when
// several writers share a store: PostgreSQL hands out ids when a row is
// inserted but makes it visible when its transaction commits, so a batch
// holding ids 100–199 can commit after one holding 200–299. A reader that
// has seen 299 would never read 100–199.
//
// The Follower therefore remembers every id below the highest it has seen
// that it has not seen yet (a gap) and reads again from the oldest open gap
// on every poll, returning only ids it has not returned. A gap closes when
// its row arrives, or after Wait: ids are also used up by transactions that
// roll back (and by inserts a store ignores as duplicates), and those never
// arrive. A write transaction that commits more than Wait after a later
// one would still be missed; moat's writer commits a batch in milliseconds.
type Follower struct {
	store Store
	// Wait is how long a gap is waited for (default 30s).
	Wait time.Duration
	// Page is how many records one store read returns (default 1000).
	Page int
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	high int64               // the highest id returned; 0 before the first read
	gaps map[int64]time.Time // unseen ids below high, with when they were found
}

// maxGaps bounds the open gaps remembered; past it the oldest are given up,
// so that a huge id jump cannot exhaust memory.
const maxGaps = 1 << 20

// NewFollower follows store from the start of the log; Tail starts it at
// the newest records instead.
func NewFollower(store Store) *Follower {
	return &Follower{store: store, gaps: map[int64]time.Time{}}
}

// Tail returns the newest n records, oldest first, and makes the follower
// continue after them. Rows whose ids lie below them but are not visible
// yet are gaps from here on, so a slow transaction is not skipped.
func (f *Follower) Tail(ctx context.Context, n int) ([]Record, error) {
	recs, err := f.store.After(ctx, -1, max(n, 1))
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, nil
	}
	// Ids just below the newest n are gaps only if not yet visible; read
	// them once to find out, as Next would.
	first := recs[0].ID
	f.high = first - 1
	below := max(first-int64(f.page()), 0)
	older, err := f.store.After(ctx, below, f.page())
	if err != nil {
		return nil, err
	}
	now := f.now()
	seen := map[int64]bool{}
	for _, r := range older {
		seen[r.ID] = true
	}
	for id := below + 1; id < first; id++ {
		if !seen[id] {
			f.gaps[id] = now
		}
	}
	out := f.take(recs, now)
	if n <= 0 {
		return nil, nil
	}
	return out, nil
}

// Next returns the records that became visible since the last call, each
// once, in id order (a late row that fills a gap comes before newer ones).
func (f *Follower) Next(ctx context.Context) ([]Record, error) {
	var out []Record
	from := f.high
	for id := range f.gaps {
		if id-1 < from {
			from = id - 1
		}
	}
	for {
		recs, err := f.store.After(ctx, from, f.page())
		if err != nil {
			return out, err
		}
		out = append(out, f.take(recs, f.now())...)
		if len(recs) < f.page() {
			break
		}
		from = recs[len(recs)-1].ID
	}
	f.expire(f.now())
	return out, nil
}

// take returns the records of recs (in id order) not returned before, and
// notes the gaps they reveal.
func (f *Follower) take(recs []Record, now time.Time) []Record {
	var out []Record
	for _, r := range recs {
		switch {
		case r.ID > f.high:
			for id := f.high + 1; id < r.ID; id++ {
				f.gaps[id] = now
			}
			f.high = r.ID
			out = append(out, r)
		default:
			if _, open := f.gaps[r.ID]; open {
				delete(f.gaps, r.ID)
				out = append(out, r)
			}
		}
	}
	return out
}

// expire gives up gaps older than Wait, and the oldest past maxGaps.
func (f *Follower) expire(now time.Time) {
	wait := f.Wait
	if wait <= 0 {
		wait = 30 * time.Second
	}
	for id, t := range f.gaps {
		if now.Sub(t) > wait || (len(f.gaps) > maxGaps && id < f.high-maxGaps) {
			delete(f.gaps, id)
		}
	}
}

// Gaps returns how many ids are still awaited.
func (f *Follower) Gaps() int { return len(f.gaps) }

func (f *Follower) page() int {
	if f.Page <= 0 {
		return 1000
	}
	return f.Page
}

func (f *Follower) now() time.Time {
	if f.Now == nil {
		return time.Now()
	}
	return f.Now()
}
