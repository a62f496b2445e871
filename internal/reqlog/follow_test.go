package reqlog_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// memStore shows the records whose ids are in visible, like a store whose
// other transactions have not committed yet.
type memStore struct {
	visible map[int64]bool
}

func (m *memStore) WriteBatch(context.Context, []reqlog.Record) error { return nil }
func (m *memStore) DeleteBefore(context.Context, time.Time) (int64, error) {
	return 0, nil
}
func (m *memStore) Close() error { return nil }

func (m *memStore) After(_ context.Context, after int64, limit int) ([]reqlog.Record, error) {
	var ids []int64
	for id, ok := range m.visible {
		if ok && (after < 0 || id > after) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if after < 0 && len(ids) > limit {
		ids = ids[len(ids)-limit:]
	}
	if len(ids) > limit {
		ids = ids[:limit]
	}
	out := make([]reqlog.Record, len(ids))
	for i, id := range ids {
		out[i] = reqlog.Record{ID: id}
	}
	return out, nil
}

func ids(recs []reqlog.Record) []int64 {
	var out []int64
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

// TestFollowerLateRows: ids that commit after later ones are returned when
// they appear, once; ids that never appear stop being awaited after Wait.
func TestFollowerLateRows(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := &memStore{visible: map[int64]bool{1: true, 2: true, 5: true}}
	f := reqlog.NewFollower(st)
	f.Now = func() time.Time { return now }
	f.Wait = 10 * time.Second
	f.Page = 2 // several pages per read

	steps := []struct {
		name    string
		appear  []int64
		advance time.Duration
		want    []int64
		gaps    int
	}{
		{"tail", nil, 0, []int64{2, 5}, 2},
		{"nothing new", nil, time.Second, nil, 2},
		{"a late row and a new one", []int64{4, 6}, time.Second, []int64{4, 6}, 1},
		{"new rows past a page", []int64{7, 8, 9}, time.Second, []int64{7, 8, 9}, 1},
		{"the last gap expires", nil, 10 * time.Second, nil, 0},
		{"an expired id is not awaited", []int64{3}, time.Second, nil, 0},
	}
	for i, s := range steps {
		for _, id := range s.appear {
			st.visible[id] = true
		}
		now = now.Add(s.advance)
		var got []reqlog.Record
		var err error
		if i == 0 {
			got, err = f.Tail(context.Background(), 2)
		} else {
			got, err = f.Next(context.Background())
		}
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), s.want) || f.Gaps() != s.gaps {
			t.Fatalf("%s: got %v with %d gaps, want %v with %d", s.name, ids(got), f.Gaps(), s.want, s.gaps)
		}
	}
}
