package reqlog

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncated(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short", "abc", 10, "abc"},
		{"exact", "abcdef", 6, "abcdef"},
		{"cut", strings.Repeat("a", 100), 40, strings.Repeat("a", 16) + "…[truncated 84 bytes]"},
		{"no room for the marker", strings.Repeat("a", 100), 5, "aaaaa"},
		{"character boundary", strings.Repeat("é", 50), 40, strings.Repeat("é", 8) + "…[truncated 84 bytes]"},
		{"invalid utf-8 replaced", "a\xffb", 10, "a\uFFFDb"},
		{"zero", "abc", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Truncated(tt.in, tt.max)
			if got != tt.want {
				t.Errorf("Truncated = %q, want %q", got, tt.want)
			}
			if len(got) > tt.max || !utf8.ValidString(got) {
				t.Errorf("result %q is %d bytes (max %d) or invalid UTF-8", got, len(got), tt.max)
			}
		})
	}
}

// TestBoundRecord: a record built from a hostile request (1 MiB path,
// method and api-version near the header limit, invalid UTF-8) stays within
// the documented bounds.
func TestBoundRecord(t *testing.T) {
	huge := strings.Repeat("é\xff", 1<<18) // 768 KiB, part broken UTF-8
	r := Record{Path: "/" + huge, Method: huge, APIVersion: huge, ErrorMessage: huge, Caller: huge,
		RequestBody: huge, ResponseBody: huge, ClientIP: "10.0.0.1"}
	r.Bound(4096)
	total := 0
	for name, f := range map[string]string{"Path": r.Path, "Method": r.Method, "APIVersion": r.APIVersion,
		"ErrorMessage": r.ErrorMessage, "Caller": r.Caller, "RequestBody": r.RequestBody, "ResponseBody": r.ResponseBody} {
		if !utf8.ValidString(f) || !strings.Contains(f, "…[truncated ") {
			t.Errorf("%s not marked or not UTF-8: %.40q", name, f)
		}
		total += len(f)
	}
	if max := MaxPathBytes + MaxErrorMessageBytes + 3*MaxShortFieldBytes + 2*4096; total > max {
		t.Errorf("bounded record carries %d bytes of strings, more than %d", total, max)
	}
	if r.ClientIP != "10.0.0.1" {
		t.Errorf("short field changed: %q", r.ClientIP)
	}
}

func TestTruncatedBytes(t *testing.T) {
	body := []byte(strings.Repeat("é", 1000))
	got := TruncatedBytes(body, 100)
	if want := Truncated(string(body), 100); got != want {
		t.Fatalf("TruncatedBytes = %q, want %q", got, want)
	}
	if got := TruncatedBytes([]byte("short"), 100); got != "short" {
		t.Fatalf("short: %q", got)
	}
}

// TestBoundCoversEveryStringField: a string field added to Record without
// a bound fails here, since any of them may carry caller input.
func TestBoundCoversEveryStringField(t *testing.T) {
	const maxBody = 512
	var r Record
	v := reflect.ValueOf(&r).Elem()
	huge := strings.Repeat("x", 1<<16)
	for i := range v.NumField() {
		if v.Field(i).Kind() == reflect.String {
			v.Field(i).SetString(huge)
		}
	}
	r.Bound(maxBody)
	limit := max(MaxPathBytes, MaxErrorMessageBytes, MaxShortFieldBytes, MaxHeadersBytes, maxBody)
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.String && f.Len() > limit {
			t.Errorf("Record.%s is not bounded by Bound (%d bytes)", v.Type().Field(i).Name, f.Len())
		}
	}
}
