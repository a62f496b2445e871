package pgstore

import (
	"testing"
	"time"
)

func TestDayOf(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
		want int64
		part string
	}{
		{"epoch", time.Unix(0, 0), 0, "request_log_p19700101"},
		{"last nanosecond of day 0", time.Unix(secondsPerDay-1, 999999999), 0, "request_log_p19700101"},
		{"before epoch", time.Unix(-1, 0), -1, "request_log_p19691231"},
		{"other zone", time.Date(2030, 6, 10, 1, 0, 0, 0, time.FixedZone("UTC+3", 3*3600)), 22074, "request_log_p20300609"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dayOf(tt.t); got != tt.want {
				t.Errorf("dayOf(%v) = %d, want %d", tt.t, got, tt.want)
			}
			if got := partitionName(dayOf(tt.t)); got != tt.part {
				t.Errorf("partitionName = %q, want %q", got, tt.part)
			}
			if dayStart(tt.want).After(tt.t) || !dayStart(tt.want+1).After(tt.t) {
				t.Errorf("%v is not within day %d", tt.t, tt.want)
			}
		})
	}
}

// FuzzPartitionDay checks that partitionDay accepts exactly the names that
// partitionName makes, so that retention never drops a table it did not
// create.
func FuzzPartitionDay(f *testing.F) {
	for _, s := range []string{"request_log_p20300610", "request_log_default", "request_log_p2030061", "request_log_p20301310", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		day, ok := partitionDay(name)
		if !ok {
			return
		}
		if got := partitionName(day); got != name {
			t.Errorf("partitionDay(%q) = %d, but partitionName(%d) = %q", name, day, day, got)
		}
	})
}
