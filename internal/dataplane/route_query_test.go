package dataplane

import (
	"net/url"
	"testing"
)

// FuzzQueryGet: queryGet reads a key as r.URL.Query().Get does, for any
// raw query, malformed pairs included.
func FuzzQueryGet(f *testing.F) {
	for _, q := range []string{
		"api-version=2024-10-21", "a=1&api-version=x&api-version=y", "api%2Dversion=%32", "api-version=%zz&api-version=2",
		"api-version=a;b", "x;y=1&api-version=3", "api-version", "&&api-version=+1+", "api-version=&api-version=4",
		"api+version=5", "%61pi-version=6", "api-version=%",
	} {
		f.Add(q, "api-version")
	}
	f.Fuzz(func(t *testing.T, raw, key string) {
		if got, want := queryGet(raw, key), (&url.URL{RawQuery: raw}).Query().Get(key); got != want {
			t.Fatalf("queryGet(%q, %q) = %q, url.Values: %q", raw, key, got, want)
		}
	})
}
