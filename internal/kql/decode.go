package kql

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// DecodeRow converts the values of one scanned row (database/sql into
// []any) in place into Go values by q.Columns: int64, float64, string, bool,
// time.Time (UTC) or nil. It hides the dialects' encodings, such as SQLite's
// unix-microsecond datetimes and 0/1 booleans.
func (q *Query) DecodeRow(row []any) error {
	if len(row) != len(q.Columns) {
		return fmt.Errorf("decode row: %d values for %d columns", len(row), len(q.Columns))
	}
	for i, v := range row {
		x, err := Decode(q.Columns[i].Type, v)
		if err != nil {
			return fmt.Errorf("decode column %s: %w", q.Columns[i].Name, err)
		}
		row[i] = x
	}
	return nil
}

// Decode converts one driver value of a result column of type t into its Go
// form (see DecodeRow). Datetimes arrive as time.Time from PostgreSQL and as
// unix microseconds from SQLite (SQLiteTimeEncoding).
func Decode(t reqlog.ColumnType, v any) (any, error) {
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	if v == nil {
		return nil, nil
	}
	switch t {
	case reqlog.TypeString:
		if s, ok := v.(string); ok {
			return s, nil
		}
		return fmt.Sprint(v), nil
	case reqlog.TypeInt:
		switch x := v.(type) {
		case int64:
			return x, nil
		case int32:
			return int64(x), nil
		case int:
			return int64(x), nil
		case float64:
			return int64(x), nil
		case string:
			return strconv.ParseInt(x, 10, 64)
		}
	case reqlog.TypeReal:
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case int32:
			return float64(x), nil
		case string:
			return strconv.ParseFloat(x, 64)
		}
	case reqlog.TypeBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		case string:
			return strconv.ParseBool(x)
		}
	case reqlog.TypeTime:
		switch x := v.(type) {
		case time.Time:
			return x.UTC(), nil
		case int64:
			return time.UnixMicro(x).UTC(), nil
		case float64:
			return time.UnixMicro(int64(math.Round(x))).UTC(), nil
		case string:
			return parseDatetime(x)
		}
	}
	return nil, fmt.Errorf("cannot decode %T as %s", v, t)
}
