package sqlitestore

import (
	"fmt"
	"time"
)

// TimeEncoding names how datetime columns (reqlog.TypeTime, such as
// request_log.time) are stored: INTEGER microseconds since the Unix epoch,
// UTC. Integers make range filters and bin() plain integer arithmetic on an
// index, several times faster over millions of rows than ISO-8601 text, and
// microseconds match PostgreSQL's timestamp precision, so both stores keep
// the same instants.
//
// SQL generators compare the column with EncodeTime(t) values, bucket it
// with BinTimeSQL, and turn scanned integers back into times with
// DecodeTime. To show it as text inside SQL:
// strftime('%Y-%m-%dT%H:%M:%SZ', time / 1000000, 'unixepoch').
const TimeEncoding = "unix_micro"

// TimeUnitsPerSecond is the number of stored time units in one second.
const TimeUnitsPerSecond = int64(time.Second / time.Microsecond)

// EncodeTime returns t as stored: microseconds since the Unix epoch, with
// any finer part truncated.
func EncodeTime(t time.Time) int64 { return t.UnixMicro() }

// DecodeTime returns the UTC time that v, a stored time, stands for.
func DecodeTime(v int64) time.Time { return time.UnixMicro(v).UTC() }

// BinTimeSQL returns a SQL expression that rounds the stored time expression
// expr down to a multiple of d since the Unix epoch, like KQL's
// bin(TimeGenerated, d); the result is a stored time too. Durations under a
// microsecond count as one microsecond. It rounds towards minus infinity for
// times before 1970 as well.
func BinTimeSQL(expr string, d time.Duration) string {
	n := max(d.Microseconds(), 1)
	if n == 1 {
		return "(" + expr + ")"
	}
	return fmt.Sprintf("((%[1]s) - (((%[1]s) %% %[2]d) + %[2]d) %% %[2]d)", expr, n)
}
