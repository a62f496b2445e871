package kql

import (
	"errors"
	"strings"
	"testing"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  string
	}{
		{"unknown column", `MoatGatewayLogs | where Foo > 1`, `line 1, col 25: unknown column "Foo"`},
		{"column case hint", `MoatGatewayLogs | where timegenerated > ago(1h)`,
			`line 1, col 25: unknown column "timegenerated" (did you mean "TimeGenerated"?)`},
		{"column gone after project", "MoatGatewayLogs\n| project CallerId\n| where ResponseCode > 1",
			`line 3, col 9: unknown column "ResponseCode"`},
		{"unsupported operator", `MoatGatewayLogs | join kind=inner (Other) on CorrelationId`,
			`line 1, col 19: unsupported operator "join" (supported: count, distinct, extend, limit, order, project, project-away, project-rename, render, sort, summarize, take, top, where)`},
		{"unsupported dashed operator", "MoatGatewayLogs\n| where ResponseCode > 1\n|   mv-expand X",
			`line 3, col 5: unsupported operator "mv-expand" (supported: count, distinct, extend, limit, order, project, project-away, project-rename, render, sort, summarize, take, top, where)`},
		{"unsupported scalar operator", `MoatGatewayLogs | where Url has_any ("a")`, `line 1, col 29: unsupported operator "has_any"`},
		{"sql inequality", `MoatGatewayLogs | where ResponseCode <> 1`, `line 1, col 38: unsupported operator "<>"; use "!="`},
		{"let", `let x = 1; MoatGatewayLogs`, `line 1, col 1: let statements are not supported`},
		{"unknown table", `requests | take 1`, `line 1, col 1: unknown table "requests" (want MoatGatewayLogs)`},
		{"two statements", `MoatGatewayLogs; MoatGatewayLogs`, `line 1, col 18: only one statement is supported`},
		{"unknown function", `MoatGatewayLogs | where parse_json(Url) != ""`, `line 1, col 25: unknown function "parse_json"`},
		{"arity", `MoatGatewayLogs | extend x = tolower(Url, 1)`, `line 1, col 30: tolower() takes 1 argument`},
		{"type mismatch", `MoatGatewayLogs | where ResponseCode == "200"`, `line 1, col 38: cannot compare long with string`},
		{"non-boolean where", `MoatGatewayLogs | where ResponseCode`, `line 1, col 25: where needs a boolean predicate, got long`},
		{"aggregate outside summarize", `MoatGatewayLogs | project count()`,
			`line 1, col 27: aggregation function count() is only allowed in summarize aggregations`},
		{"bare column in summarize", `MoatGatewayLogs | summarize x = ResponseCode`,
			`line 1, col 33: column "ResponseCode" must be inside an aggregation function (or in the by clause)`},
		{"nested aggregates", `MoatGatewayLogs | summarize sum(count())`, `line 1, col 33: aggregation functions cannot be nested`},
		{"negative take", `MoatGatewayLogs | take -1`, `line 1, col 24: expected a row count (integer literal), found "-"`},
		{"unterminated string", `MoatGatewayLogs | where Url == "abc`, `line 1, col 32: unterminated string`},
		{"bad escape", `MoatGatewayLogs | where Url == "a\qb"`, `line 1, col 34: unknown escape \q`},
		{"ago needs constant", `MoatGatewayLogs | where TimeGenerated > ago(Url)`,
			`line 1, col 41: ago() takes one constant timespan, like ago(1h)`},
		{"timespan result", `MoatGatewayLogs | extend Age = now() - TimeGenerated`,
			`line 1, col 26: column "Age" is a timespan, which results cannot hold; divide it by a unit, e.g. Age / 1ms`},
		{"percentile rank", `MoatGatewayLogs | summarize percentile(TotalTime, 101)`,
			`line 1, col 51: percentile rank must be between 0 and 100`},
		{"percentiles names", `MoatGatewayLogs | summarize (a, b) = percentiles(TotalTime, 50)`, `line 1, col 30: 2 names for 1 percentiles`},
		{"render not last", `MoatGatewayLogs | render timechart | take 1`, `line 1, col 38: render must be the last operator (after line 1)`},
		{"unknown chart", `MoatGatewayLogs | render pie`, `line 1, col 26: unknown chart kind "pie"`},
		{"timespan unit", `MoatGatewayLogs | where ResponseCode > 5xx`, `line 1, col 41: unknown timespan unit "xx" (use d, h, m, s, ms, microsecond or tick)`},
		{"reserved name", `MoatGatewayLogs | project __x = 1`, `line 1, col 27: column names starting with __ are reserved`},
		{"names differing in case", `MoatGatewayLogs | project a = 1, A = 2`, `line 1, col 34: duplicate column name "A"`},
		{"invalid datetime", `MoatGatewayLogs | where TimeGenerated < datetime(2026-13-45)`, `line 1, col 50: invalid datetime "2026-13-45"`},
		{"trailing pipe", `MoatGatewayLogs | where ResponseCode > 1 |`, `line 1, col 43: expected an operator after |, found end of query`},
		{"position counts characters", "MoatGatewayLogs\n| where Url == \"héllo\" and Foo == 1", `line 2, col 28: unknown column "Foo"`},
		{"property access", `MoatGatewayLogs | where Url.x == 1`, `line 1, col 28: property access (dynamic values) is not supported`},
		{"bin needs constant", `MoatGatewayLogs | summarize count() by bin(TimeGenerated, TotalTime)`,
			`line 1, col 59: bin() size must be a constant`},
		{"bin of datetime needs timespan", `MoatGatewayLogs | summarize count() by bin(TimeGenerated, 5)`,
			`line 1, col 59: bin() of a datetime needs a positive timespan, like 5m`},
		{"sort without key", `MoatGatewayLogs | sort by`, `line 1, col 26: expected an expression, found end of query`},
		{"project-away unknown", `MoatGatewayLogs | project-away Foo`, `line 1, col 32: unknown column "Foo"`},
		{"string plus", `MoatGatewayLogs | extend x = Url + "a"`, `line 1, col 34: operator + cannot be applied to string and string`},
		{"has needs literal", `MoatGatewayLogs | where Url has CallerId`, `line 1, col 33: has needs a string literal on the right`},
		{"summarize without aggregation", `MoatGatewayLogs | summarize x = 1`,
			`line 1, col 33: summarize expressions need an aggregation function such as count() or sum()`},
		{"empty in", `MoatGatewayLogs | where ResponseCode in ()`, `line 1, col 38: in needs at least one value`},
		{"deep nesting", `MoatGatewayLogs | where ` + strings.Repeat("(", 100) + "true" + strings.Repeat(")", 100),
			`line 1, col 89: expression nested deeper than 64`},
		{"empty query", ``, `line 1, col 1: expected table name MoatGatewayLogs, found end of query`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, d := range dialects {
				_, err := Compile(tc.query, d, testNow)
				var kerr *Error
				if !errors.As(err, &kerr) {
					t.Fatalf("%s: error = %v, want *Error %q", d, err, tc.want)
				}
				if got := err.Error(); got != tc.want {
					t.Errorf("%s:\n got %s\nwant %s", d, got, tc.want)
				}
			}
		})
	}
}

func TestMatchesRegexDialects(t *testing.T) {
	const q = `MoatGatewayLogs | where Url matches regex "^/openai"`
	if _, err := Compile(q, Postgres, testNow); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	_, err := Compile(q, SQLite, testNow)
	if err == nil || err.Error() != `line 1, col 29: "matches regex" is not supported on SQLite` {
		t.Fatalf("sqlite: %v", err)
	}
}

func TestUnknownDialect(t *testing.T) {
	if _, err := Compile(`MoatGatewayLogs`, Dialect(0), testNow); err == nil {
		t.Fatal("want an error for an unknown dialect")
	}
}

func TestQueryTooLong(t *testing.T) {
	q := `MoatGatewayLogs | where Url == "` + strings.Repeat("a", maxQueryBytes) + `"`
	if _, err := Compile(q, SQLite, testNow); err == nil {
		t.Fatal("want an error for an oversized query")
	}
}
