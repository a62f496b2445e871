package spool

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func open(t *testing.T, dir string, maxBytes int64) *Spool {
	t.Helper()
	s, err := Open(dir, Options{MaxBytes: maxBytes})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func payloads(from, n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		p := fmt.Appendf(nil, "record-%06d:", from+i)
		out[i] = append(p, bytes.Repeat([]byte{byte('a' + (from+i)%26)}, max(0, size-len(p)))...)
	}
	return out
}

// readAll reads everything from p, n records per ReadFrom.
func readAll(t *testing.T, s *Spool, p Pos, n int) ([][]byte, Pos) {
	t.Helper()
	var out [][]byte
	for {
		recs, next, err := s.ReadFrom(p, n)
		if err != nil {
			t.Fatalf("ReadFrom(%v): %v", p, err)
		}
		if len(recs) > n {
			t.Fatalf("ReadFrom(%v, %d) returned %d records", p, n, len(recs))
		}
		out = append(out, recs...)
		p = next
		if len(recs) == 0 {
			return out, p
		}
	}
}

// diff describes how got differs from want, or is "" when they are equal;
// cmp.Diff walks []byte element by element, too slow for megabytes.
func diff(want, got [][]byte) string {
	for i := range min(len(want), len(got)) {
		if !bytes.Equal(want[i], got[i]) {
			return fmt.Sprintf("record %d: want %.20q..., got %.20q...", i, want[i], got[i])
		}
	}
	if len(want) != len(got) {
		return fmt.Sprintf("want %d records, got %d", len(want), len(got))
	}
	return ""
}

func segments(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name              string
		records, size, at int // records of size bytes, read at records per ReadFrom
	}{
		{"one", 1, 10, 10},
		{"many small", 5000, 40, 256},
		{"rotating", 3000, 300, 7},
		{"empty records", 100, 0, 9},
		{"bigger than a read chunk", 3, readChunk + 100, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, 64<<20)
			if tt.size > 1000 {
				s.segBytes = 64 << 20
			} else {
				s.segBytes = 16 << 10 // many segments
			}
			want := payloads(0, tt.records, tt.size)
			for i := 0; i < len(want); i += 13 {
				n, err := s.Append(want[i:min(i+13, len(want))])
				if err != nil || n != min(13, len(want)-i) {
					t.Fatalf("Append = %d, %v", n, err)
				}
			}
			got, end := readAll(t, s, s.Start(), tt.at)
			if d := diff(want, got); d != "" {
				t.Fatalf("records: %s", d)
			}
			if err := s.Commit(end); err != nil {
				t.Fatal(err)
			}
			if n := segments(t, dir); n != 1 {
				t.Errorf("%d segments after committing everything, want 1 (the active one)", n)
			}
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestReopen checks that what was not committed is read again after a
// restart, from where the last Commit left off, and what was committed is
// not.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	s.segBytes = 16 << 10         // about 150 records a segment
	all := payloads(0, 2000, 100) // about 216 KB
	if n, err := s.Append(all); n != len(all) || err != nil {
		t.Fatalf("Append = %d, %v", n, err)
	}
	got, _ := readAll(t, s, s.Start(), 1500)
	recs, p, err := s.ReadFrom(s.Start(), 1200)
	if err != nil || len(recs) != 1200 || len(got) != len(all) {
		t.Fatalf("ReadFrom = %d, %v (all: %d)", len(recs), err, len(got))
	}
	if err := s.Commit(p); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, 1<<20)
	got, _ = readAll(t, s, s.Start(), 100)
	if d := diff(all[1200:], got); d != "" {
		t.Fatalf("replay after reopen, want the 800 records not committed: %s", d)
	}
	if n := segments(t, dir); n > 8 {
		t.Errorf("%d segments after reopen, want those of the 800 records and a new one", n)
	}
}

// TestOverflow fills a small spool: Append drops the newest records that do
// not fit and never goes past MaxBytes; committing makes room again.
func TestOverflow(t *testing.T) {
	dir := t.TempDir()
	const maxBytes = 256 << 10
	s := open(t, dir, maxBytes)
	recs := payloads(0, 5000, 200) // about 1 MB
	n, err := s.Append(recs)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || n >= len(recs) {
		t.Fatalf("Append wrote %d of %d into %d bytes", n, len(recs), maxBytes)
	}
	if st := s.Stats(); st.Bytes > maxBytes {
		t.Fatalf("spool holds %d bytes, bound %d", st.Bytes, maxBytes)
	}
	got, end := readAll(t, s, s.Start(), 500)
	if d := diff(recs[:n], got); d != "" {
		t.Fatalf("kept records are not the oldest %d: %s", n, d)
	}
	if m, _ := s.Append(recs[n:]); m != 0 {
		t.Fatalf("Append into a full spool wrote %d", m)
	}
	if err := s.Commit(end); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Append(recs[n : n+100]); m != 100 || err != nil {
		t.Fatalf("Append after Commit = %d, %v; want 100", m, err)
	}
}

// TestDamagedTail cuts or corrupts the last records of a segment as a crash
// or a bad disk would: Open keeps the records before the damage, skips
// the rest and counts it.
func TestDamagedTail(t *testing.T) {
	tests := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"cut in a payload", func(b []byte) []byte { return b[:len(b)-5] }},
		{"cut in a header", func(b []byte) []byte { return b[:len(b)-int(frameSize(100))+3] }},
		{"flipped bit", func(b []byte) []byte { b[len(b)-50] ^= 0x10; return b }},
		{"bad length", func(b []byte) []byte { copy(b[len(b)-int(frameSize(100)):], []byte{0xff, 0xff, 0xff, 0x7f}); return b }},
		{"garbage appended", func(b []byte) []byte { return append(b, 1, 2, 3, 4, 5, 6, 7, 8, 9) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			recs := payloads(0, 10, 100)
			if _, err := s.Append(recs); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			path := s.path(1)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.damage(b), 0o600); err != nil {
				t.Fatal(err)
			}
			s = open(t, dir, 0)
			got, _ := readAll(t, s, s.Start(), 100)
			want := recs[:9]
			if tt.name == "garbage appended" {
				want = recs
			}
			if d := diff(want, got); d != "" {
				t.Errorf("records after damage: %s", d)
			}
			if st := s.Stats(); st.Damaged != 1 || st.DamagedBytes <= 0 {
				t.Errorf("Stats = %+v, want one damaged segment", st)
			}
		})
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, 0)
	if s, err := Open(dir, Options{}); err == nil {
		s.Close()
		t.Fatal("a second Open of the same spool succeeded")
	}
}

func FuzzDecodeSegment(f *testing.F) {
	seg := []byte(magic)
	for _, p := range payloads(0, 3, 20) {
		seg = appendFrame(seg, p)
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Add([]byte(magic))
	f.Add([]byte("MOATSPL1\xff\xff\xff\xff\x00\x00\x00\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, valid, damaged := DecodeSegment(b)
		if valid > len(b) || valid < 0 {
			t.Fatalf("valid = %d of %d bytes", valid, len(b))
		}
		if damaged == (valid == len(b)) && len(b) > 0 {
			t.Fatalf("damaged = %v with %d of %d bytes valid", damaged, valid, len(b))
		}
		if valid == 0 {
			return
		}
		// The valid prefix is exactly the records, framed again.
		again := []byte(magic)
		for _, r := range recs {
			again = appendFrame(again, r)
		}
		if !bytes.Equal(again, b[:valid]) {
			t.Fatalf("re-encoded records differ from the valid prefix")
		}
	})
}
