package dataplane

import (
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadBounded(t *testing.T) {
	const max = 25 << 20
	for _, tc := range []struct {
		name     string
		body     string
		announce int64
		maxCap   int // the most the buffer may hold (0: no check)
	}{
		{name: "as announced", body: `{"a":1}`, announce: 7, maxCap: 8},
		{name: "unknown length", body: `{"a":1}`, announce: -1},
		{name: "shorter than announced", body: `{}`, announce: 10, maxCap: 11},
		{name: "longer than announced", body: strings.Repeat("x", 5000), announce: 10},
		{name: "over max announced", body: `{}`, announce: max + 1},
		// Headers announcing 25 MiB must not reserve 25 MiB before the
		// bytes come: a trickling client could hold that per connection.
		{name: "large announcement, little sent", body: `{}`, announce: max, maxCap: presizeMax + 1},
		{name: "empty", body: "", announce: 0, maxCap: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readBounded(iotest.OneByteReader(strings.NewReader(tc.body)), tc.announce, max)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.body {
				t.Fatalf("read %d bytes, want %d", len(got), len(tc.body))
			}
			if tc.maxCap > 0 && cap(got) > tc.maxCap {
				t.Errorf("buffer capacity %d, want at most %d", cap(got), tc.maxCap)
			}
		})
	}
}
