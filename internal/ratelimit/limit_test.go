package ratelimit

import (
	"strings"
	"testing"
	"time"
)

func TestPeriodBounds(t *testing.T) {
	at := time.Date(2024, 2, 29, 17, 42, 5, 0, time.FixedZone("X", -5*3600)) // 22:42:05 UTC, a Thursday
	tests := []struct {
		p          Period
		start, end string
	}{
		{PeriodHour, "2024-02-29T22:00:00Z", "2024-02-29T23:00:00Z"},
		{PeriodDay, "2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z"},
		{PeriodWeek, "2024-02-26T00:00:00Z", "2024-03-04T00:00:00Z"},
		{PeriodMonth, "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"},
		{PeriodYear, "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(string(tt.p), func(t *testing.T) {
			s, e := tt.p.Bounds(at)
			if got := s.Format(time.RFC3339); got != tt.start {
				t.Errorf("start = %s, want %s", got, tt.start)
			}
			if got := e.Format(time.RFC3339); got != tt.end {
				t.Errorf("end = %s, want %s", got, tt.end)
			}
		})
	}
	t.Run("a Sunday belongs to the week that began on Monday", func(t *testing.T) {
		s, _ := PeriodWeek.Bounds(time.Date(2025, 3, 16, 23, 0, 0, 0, time.UTC))
		if want := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC); !s.Equal(want) {
			t.Errorf("start = %v, want %v", s, want)
		}
	})
}

func TestLimitValidate(t *testing.T) {
	tests := []struct {
		name string
		l    Limit
		errs []string // substrings; none means valid
	}{
		{"tpm only", Limit{Key: "key:a", TPM: 10}, nil},
		{"quota with period and local share", Limit{Key: "k", Quota: 5, QuotaPeriod: PeriodMonth, OnBackendDown: LocalShare, LocalShare: 0.25}, nil},
		{"everything wrong at once", Limit{TPM: -1, Quota: 3, QuotaPeriod: "fortnight", OnBackendDown: "maybe"},
			[]string{"key is empty", "must not be negative", "quota period", "on backend down"}},
		{"no limit at all", Limit{Key: "k"}, []string{"at least one"}},
		{"local share out of range", Limit{Key: "k", RPM: 1, OnBackendDown: LocalShare, LocalShare: 1.5}, []string{"local share"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.l.Validate()
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want errors")
			}
			for _, s := range tt.errs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Validate() = %q, missing %q", err, s)
				}
			}
		})
	}
}

func TestLimitScaled(t *testing.T) {
	l := &Limit{Key: "k", TPM: 1000, RPM: 3, Quota: 10, LocalShare: 0.25, OnBackendDown: LocalShare}
	s := l.scaled()
	if s.TPM != 250 || s.RPM != 1 || s.Quota != 2 || s.Key != "k" {
		t.Errorf("scaled = %+v", s)
	}
	if l.TPM != 1000 {
		t.Error("scaled changed the original")
	}
}
