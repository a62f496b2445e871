package upstream

import (
	"net/url"
	"strings"
)

// joinPath is base.JoinPath(elem...), built without JoinPath's
// allocations (a slice, path.Join's buffer and cleaning, the escaping
// round trip) when there is nothing for them to do: base's path and every
// element are already clean and need no escaping. Every attempt of every
// call builds its URL here, so the common case costs the URL and its path
// only; anything else goes to JoinPath itself.
func joinPath(base *url.URL, elem ...string) *url.URL {
	if len(elem) == 0 || base.RawPath != "" || !strings.HasPrefix(base.Path, "/") || !cleanPath(base.Path[1:], true) {
		return base.JoinPath(elem...)
	}
	n := len(base.Path)
	for _, e := range elem {
		if !cleanPath(e, false) {
			return base.JoinPath(elem...)
		}
		n += 1 + len(e)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(strings.TrimSuffix(base.Path, "/"))
	for _, e := range elem {
		b.WriteByte('/')
		b.WriteString(e)
	}
	u := *base
	u.Path = b.String()
	return &u
}

// cleanPath reports whether p is segments joined by '/' that path.Clean
// keeps as they are and that need no escaping: none empty (but the last
// when trailing is allowed, for a base path's final '/'), none "." or
// "..", and only unreserved characters.
func cleanPath(p string, trailing bool) bool {
	if p == "" {
		return trailing
	}
	start := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			if !unreserved(p[i]) {
				return false
			}
			continue
		}
		seg := p[start:i]
		if seg == "." || seg == ".." || (seg == "" && !(trailing && i == len(p))) {
			return false
		}
		start = i + 1
	}
	return true
}

// unreserved is RFC 3986's unreserved set, which a path never escapes.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
