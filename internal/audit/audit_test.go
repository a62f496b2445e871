package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// chain builds n linked entries one second apart.
func chain(t testing.TB, n int) []Entry {
	t.Helper()
	start := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)
	var out []Entry
	var prev *Entry
	for i := range n {
		e, err := Next(prev, Record{
			Time:     start.Add(time.Duration(i) * time.Second),
			Actor:    "cli:alice",
			Action:   ActionKeyCreate,
			Target:   fmt.Sprintf("k%02d", i),
			Details:  json.RawMessage(fmt.Sprintf(`{ "name" : "key %d" }`, i)),
			ClientIP: "10.0.0.1",
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
		prev = &out[len(out)-1]
	}
	return out
}

func TestNext(t *testing.T) {
	c := chain(t, 2)
	if c[0].Seq != 1 || c[0].PrevHash != GenesisHash {
		t.Errorf("first entry: seq %d prev %q, want 1 and the genesis hash", c[0].Seq, c[0].PrevHash)
	}
	if c[1].Seq != 2 || c[1].PrevHash != c[0].Hash {
		t.Errorf("second entry: seq %d prev %q, want 2 and %q", c[1].Seq, c[1].PrevHash, c[0].Hash)
	}
	if got, want := string(c[0].Details), `{"name":"key 0"}`; got != want {
		t.Errorf("details = %s, want compacted %s", got, want)
	}
	if got := c[0].Time.Nanosecond() % 1000; got != 0 || c[0].Time.Location() != time.UTC {
		t.Errorf("time %v not truncated to UTC microseconds", c[0].Time)
	}
	if len(c[0].Hash) != 64 || c[0].Hash == c[1].Hash {
		t.Errorf("hashes %q, %q", c[0].Hash, c[1].Hash)
	}
}

func TestNextRejects(t *testing.T) {
	tests := []struct {
		name string
		r    Record
	}{
		{"no actor", Record{Action: ActionKeyRevoke}},
		{"no action", Record{Actor: "cli:bob"}},
		{"details not JSON", Record{Actor: "a", Action: "x", Details: json.RawMessage(`{"a":`)}},
		{"details not an object", Record{Actor: "a", Action: "x", Details: json.RawMessage(`[1,2]`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Next(nil, tt.r); err == nil {
				t.Error("Next succeeded")
			}
		})
	}
	e, err := Next(nil, Record{Actor: "a", Action: "x"})
	if err != nil || string(e.Details) != "{}" {
		t.Errorf("empty details: %s, %v; want {}", e.Details, err)
	}
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name   string
		tamper func([]Entry) []Entry
		seq    int64 // 0: intact
	}{
		{"intact", func(c []Entry) []Entry { return c }, 0},
		{"empty", func([]Entry) []Entry { return nil }, 0},
		{"edited details", func(c []Entry) []Entry { c[2].Details = json.RawMessage(`{"name":"evil"}`); return c }, 3},
		{"edited actor", func(c []Entry) []Entry { c[4].Actor = "cli:mallory"; return c }, 5},
		{"edited time", func(c []Entry) []Entry { c[0].Time = c[0].Time.Add(time.Microsecond); return c }, 1},
		{"edited and rehashed", func(c []Entry) []Entry {
			c[2].Target = "other"
			c[2].Hash = Hash(c[2])
			return c
		}, 4},
		{"deleted middle", func(c []Entry) []Entry { return append(c[:2], c[3:]...) }, 3},
		{"deleted first", func(c []Entry) []Entry { return c[1:] }, 1},
		{"deleted middle and renumbered", func(c []Entry) []Entry {
			c = append(c[:2], c[3:]...)
			for i := 2; i < len(c); i++ {
				c[i].Seq--
			}
			return c
		}, 3},
		{"duplicated", func(c []Entry) []Entry { return append(c[:3], c[2:]...) }, 4},
		{"swapped", func(c []Entry) []Entry { c[1], c[2] = c[2], c[1]; return c }, 2},
		{"forked", func(c []Entry) []Entry {
			fork, _ := Next(&c[1], Record{Actor: "x", Action: "y"})
			c[3] = fork
			return c
		}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.tamper(chain(t, 6)))
			var be *BrokenError
			switch {
			case tt.seq == 0 && err != nil:
				t.Fatalf("Verify: %v, want nil", err)
			case tt.seq == 0:
			case !errors.As(err, &be):
				t.Fatalf("Verify = %v, want a *BrokenError", err)
			case be.Seq != tt.seq:
				t.Errorf("broken at seq %d (%v), want %d", be.Seq, err, tt.seq)
			}
		})
	}
}

func TestVerifierHead(t *testing.T) {
	c := chain(t, 3)
	var v Verifier
	for _, e := range c {
		if err := v.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	seq, hash := v.Head()
	if diff := cmp.Diff([]any{int64(3), int64(3), c[2].Hash}, []any{v.Count(), seq, hash}); diff != "" {
		t.Errorf("count, head (-want +got):\n%s", diff)
	}
	bad := c[0]
	if err := v.Add(bad); err == nil {
		t.Fatal("Add of a stale entry succeeded")
	}
	if err := v.Add(Entry{Seq: 4}); err == nil {
		t.Error("a broken verifier accepted a later entry")
	}
}

// FuzzCanonical checks that the encoding is injective: entries that differ
// in any field never encode alike.
func FuzzCanonical(f *testing.F) {
	f.Add("ab", "c", "", "{}", "ab", "c")
	f.Add("a", "b\x00c", "x", `{"k":1}`, "a\x00\x00\x00\x01b", "c")
	f.Fuzz(func(t *testing.T, actor, action, target, details, actor2, action2 string) {
		at := time.Unix(1700000000, 0).UTC()
		a := Entry{Seq: 1, Time: at, Actor: actor, Action: action, Target: target, Details: json.RawMessage(details)}
		b := a
		b.Actor, b.Action = actor2, action2
		same := actor == actor2 && action == action2
		if got := bytes.Equal(Canonical(a), Canonical(b)); got != same {
			t.Errorf("entries %+v and %+v: equal encodings %v, want %v", a, b, got, same)
		}
	})
}

func BenchmarkNext(b *testing.B) {
	prev := chain(b, 1)[0]
	r := Record{Time: time.Now(), Actor: "cli:alice", Action: ActionKeyRevoke, Target: "0123456789ab",
		Details: json.RawMessage(`{"revoked_at":"2025-06-01T12:00:00Z"}`), ClientIP: "10.0.0.1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Next(&prev, r); err != nil {
			b.Fatal(err)
		}
	}
}
