package reqlog

import "testing"

func TestColumnsMatchRecord(t *testing.T) {
	var r Record
	if got, want := len(r.Values()), len(columns); got != want {
		t.Fatalf("Values has %d entries, Columns %d", got, want)
	}
	if got, want := len(r.ScanTargets()), len(columns)+1; got != want {
		t.Fatalf("ScanTargets has %d entries, want %d", got, want)
	}
	seen := map[string]bool{}
	for _, c := range columns {
		if seen[c.SQL] || seen[c.KQL] {
			t.Fatalf("duplicate column %v", c)
		}
		seen[c.SQL], seen[c.KQL] = true, true
	}
}
