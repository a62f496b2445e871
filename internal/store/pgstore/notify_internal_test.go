package pgstore

import (
	"strings"
	"testing"

	"github.com/moat-gw/moat/internal/auth"
)

// FuzzParseChange: any payload parses without panicking, and what parses
// belongs to the schema and has a known kind.
func FuzzParseChange(f *testing.F) {
	f.Add("s/key/abc", "s/")
	f.Add("s/all/", "s/")
	f.Add("other/key/abc", "s/")
	f.Add("s/bogus/x/y", "s/")
	f.Fuzz(func(t *testing.T, payload, prefix string) {
		c, ok := parseChange(payload, prefix)
		if !ok {
			return
		}
		if !strings.HasPrefix(payload, prefix) || !strings.HasSuffix(payload, c.ID) {
			t.Errorf("parseChange(%q, %q) = %+v", payload, prefix, c)
		}
		switch c.Kind {
		case auth.ChangeKey, auth.ChangeAssignment, auth.ChangeAll:
		default:
			t.Errorf("unknown kind %q accepted", c.Kind)
		}
	})
}
