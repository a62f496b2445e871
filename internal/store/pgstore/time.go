package pgstore

import (
	"fmt"
	"time"
)

// TimeEncoding names how datetime columns (reqlog.TypeTime, such as
// request_log.time) are stored: native timestamptz, microsecond precision,
// compared and returned as instants (drivers scan them into time.Time).
// SQL generators bind time.Time values for comparisons and bucket the column
// with BinTimeSQL; range filters on time also prune day partitions.
const TimeEncoding = "timestamptz"

// BinTimeSQL returns a SQL expression that rounds the timestamptz expression
// expr down to a multiple of d since the Unix epoch (UTC), like KQL's
// bin(TimeGenerated, d); the result is a timestamptz. Durations under a
// microsecond count as one microsecond. It uses date_bin (PostgreSQL 14+).
func BinTimeSQL(expr string, d time.Duration) string {
	n := max(d.Microseconds(), 1)
	return fmt.Sprintf("date_bin(interval '%d microseconds', %s, timestamptz '1970-01-01 00:00:00+00')", n, expr)
}
