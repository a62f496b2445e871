package kql

import (
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/reqlog"
)

// TestCallerIndexHint: a CallerId equality on the stored column reads the
// SQLite store's caller index, with the conjuncts' time bounds; anything
// that could admit other rows, a recomputed column, or PostgreSQL does not.
// TestExecute checks that the rows are the same either way.
func TestCallerIndexHint(t *testing.T) {
	tests := []struct {
		name, query string
		d           Dialect
		hint        bool
		bounds      int // time bounds inside the index's subquery
	}{
		{"equality", `T | where CallerId == "key-a" | count`, SQLite, true, 0},
		{"reversed", `T | where "key-a" == CallerId | take 5`, SQLite, true, 0},
		{"with a range", `T | where TimeGenerated > ago(1h) and CallerId == "key-a" and TimeGenerated < ago(5m) | count`, SQLite, true, 2},
		{"between", `T | where CallerId == "k" and TimeGenerated between (ago(2h) .. ago(1h)) | count`, SQLite, true, 2},
		{"not a constant once compiled", `T | where CallerId == strcat("key-", "a") | count`, SQLite, false, 0},
		{"second where", `T | where TimeGenerated > ago(1h) | where CallerId == "key-a" | count`, SQLite, true, 0},
		{"under or", `T | where CallerId == "key-a" or ResponseCode == 429 | count`, SQLite, false, 0},
		{"not equal", `T | where CallerId != "key-a" | count`, SQLite, false, 0},
		{"case-insensitive", `T | where CallerId =~ "key-a" | count`, SQLite, false, 0},
		{"recomputed", `T | extend CallerId = strcat(CallerId, "") | where CallerId == "key-a" | count`, SQLite, false, 0},
		{"after summarize", `T | summarize n = count() by CallerId | where CallerId == "key-a"`, SQLite, false, 0},
		{"postgres", `T | where CallerId == "key-a" | count`, Postgres, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := Compile(strings.Replace(tt.query, "T", reqlog.TableName, 1), tt.d, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(q.SQL, reqlog.CallerIndexTable); got != tt.hint {
				t.Fatalf("reads the caller index: %v, want %v\n%s", got, tt.hint, q.SQL)
			}
			if !tt.hint {
				return
			}
			sub := q.SQL[strings.Index(q.SQL, reqlog.CallerIndexTable):]
			sub = sub[:strings.Index(sub, ")")]
			if got := strings.Count(sub, "time"); got != tt.bounds {
				t.Errorf("%d time bounds in the index's subquery, want %d: %s", got, tt.bounds, sub)
			}
		})
	}
}
