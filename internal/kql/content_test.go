package kql

import (
	"slices"
	"strings"
	"testing"
)

// TestContentColumns checks that HideContent removes the prompt columns
// and that Query.Content marks every query that reads them.
func TestContentColumns(t *testing.T) {
	tests := []struct {
		name, query string
		hide        bool
		err         string // substring; "" for success
		content     bool
		hasColumn   bool // RequestMessages in the result
	}{
		{name: "whole rows", query: "MoatGatewayLogs | take 1", content: true, hasColumn: true},
		{name: "whole rows hidden", query: "MoatGatewayLogs | take 1", hide: true},
		{name: "other columns", query: "MoatGatewayLogs | project CorrelationId"},
		{name: "filter on content", query: `MoatGatewayLogs | where ResponseMessages contains "x" | count`, content: true},
		{name: "filter on content hidden", query: `MoatGatewayLogs | where ResponseMessages contains "x" | count`, hide: true,
			err: `column "ResponseMessages" holds prompt content: reading it needs the Moat/logs/content/read permission`},
		{name: "case variant hidden", query: `MoatGatewayLogs | project requestmessages`, hide: true, err: "Moat/logs/content/read"},
		{name: "summary", query: "MoatGatewayLogs | summarize count() by DeploymentName"},
		{name: "summary hidden rollup", query: "MoatGatewayLogs | where TimeGenerated > ago(2d) | summarize count() by bin(TimeGenerated, 1h)", hide: true},
		{name: "extend from content", query: "MoatGatewayLogs | extend n = strlen(RequestMessages) | project n", content: true},
	}
	for _, tt := range tests {
		for _, d := range []Dialect{SQLite, Postgres} {
			t.Run(tt.name+"/"+d.String(), func(t *testing.T) {
				q, err := CompileOptions(tt.query, d, testNow, Options{Rollup: true, HideContent: tt.hide})
				if tt.err != "" {
					if err == nil || !strings.Contains(err.Error(), tt.err) {
						t.Fatalf("err = %v, want %q", err, tt.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if q.Content != tt.content {
					t.Errorf("Content = %v, want %v\n%s", q.Content, tt.content, q.SQL)
				}
				has := slices.ContainsFunc(q.Columns, func(c OutColumn) bool { return c.Name == "RequestMessages" })
				if has != tt.hasColumn {
					t.Errorf("RequestMessages in result = %v, want %v", has, tt.hasColumn)
				}
			})
		}
	}
}
