package openai

import "strings"

// APIVersions are the dated api-versions accepted on the legacy surface by
// default: every GA and preview inference version in the wire reference §1.3.
var apiVersions = []string{
	"2022-12-01", "2023-05-15", "2024-02-01", "2024-06-01", "2024-10-21",
	"2023-03-15-preview", "2023-06-01-preview", "2023-07-01-preview", "2023-08-01-preview",
	"2023-09-01-preview", "2023-12-01-preview", "2024-02-15-preview", "2024-03-01-preview",
	"2024-04-01-preview", "2024-05-01-preview", "2024-07-01-preview", "2024-08-01-preview",
	"2024-09-01-preview", "2024-10-01-preview", "2024-12-01-preview", "2025-01-01-preview",
	"2025-02-01-preview", "2025-03-01-preview", "2025-04-01-preview",
}

// DefaultAPIVersions returns a copy of the default allow-list.
func DefaultAPIVersions() []string { return append([]string(nil), apiVersions...) }

// SupportsStreamUsage reports whether a dated api-version accepts
// stream_options.include_usage (2024-09-01-preview and later, §1.3).
func SupportsStreamUsage(v string) bool {
	date := strings.TrimSuffix(v, "-preview")
	if len(date) != len("2006-01-02") {
		return false
	}
	if date > "2024-09-01" {
		return true
	}
	return date == "2024-09-01" && strings.HasSuffix(v, "-preview")
}

// IsPreview reports whether v is a preview version.
func IsPreview(v string) bool { return strings.HasSuffix(v, "-preview") }
