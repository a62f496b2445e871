package ratelimit

import (
	"errors"
	"fmt"
	"time"
)

// Window is the span of the per-minute limits. It is fixed because TPM and
// RPM are defined per minute by Azure and APIM.
const Window = time.Minute

// windowSeconds is Window in whole seconds, the number of buckets.
const windowSeconds = 60

// Period is the calendar period of a token quota, in UTC.
type Period string

// Quota periods. APIM's token-quota-period names map to these
// (Hourly → hour, Daily → day, …).
const (
	PeriodHour  Period = "hour"
	PeriodDay   Period = "day"
	PeriodWeek  Period = "week"
	PeriodMonth Period = "month"
	PeriodYear  Period = "year"
)

// Valid reports whether p is one of the known periods.
func (p Period) Valid() bool {
	switch p {
	case PeriodHour, PeriodDay, PeriodWeek, PeriodMonth, PeriodYear:
		return true
	}
	return false
}

// Bounds returns the UTC period that contains now, as [start, end). Weeks
// start on Monday.
func (p Period) Bounds(now time.Time) (start, end time.Time) { return p.BoundsIn(now, time.UTC) }

// BoundsIn returns the calendar period of loc that contains now, as
// [start, end); nil loc means UTC. Days and months follow loc's calendar,
// so a budget kept in Asia/Tokyo renews at midnight in Tokyo (across a
// daylight saving change a day is 23 or 25 hours long).
func (p Period) BoundsIn(now time.Time, loc *time.Location) (start, end time.Time) {
	if loc == nil {
		loc = time.UTC
	}
	u := now.In(loc)
	y, m, d := u.Date()
	switch p {
	case PeriodHour:
		start = time.Date(y, m, d, u.Hour(), 0, 0, 0, loc)
		return start, start.Add(time.Hour)
	case PeriodDay:
		start = time.Date(y, m, d, 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 0, 1)
	case PeriodWeek:
		back := (int(u.Weekday()) + 6) % 7 // days since Monday
		start = time.Date(y, m, d-back, 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 0, 7)
	case PeriodMonth:
		start = time.Date(y, m, 1, 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 1, 0)
	case PeriodYear:
		start = time.Date(y, 1, 1, 0, 0, 0, 0, loc)
		return start, start.AddDate(1, 0, 0)
	}
	// Unknown periods never reach here after Validate; treat them as a day so
	// a misconfigured limit still limits.
	start = time.Date(y, m, d, 0, 0, 0, 0, loc)
	return start, start.AddDate(0, 0, 1)
}

// BackendDownMode says what a limit does when the shared counter store
// (Redis) cannot be reached.
type BackendDownMode string

// Backend-down modes. The empty value means FailClosed, the safe default.
const (
	// FailClosed denies calls with a 503 until the store is back.
	FailClosed BackendDownMode = "fail_closed"
	// LocalShare falls back to an in-process limiter holding LocalShare of
	// the limit, e.g. 1/replicas, so the fleet stays near the limit.
	LocalShare BackendDownMode = "local_share"
)

// Limit is one scope's limits. The gateway builds Key from the scope, e.g.
// "key:<id>", "principal:<oid>", "deployment:<name>" or
// "key:<id>|deployment:<name>"; one counter exists per Key, shared by every
// call that names it. A zero TPM, RPM or Quota means no such limit. Limits
// are read-only once built: the limiter reads them on every call.
type Limit struct {
	Key string
	// TPM caps prompt+completion tokens in any 60 s window.
	TPM int
	// RPM caps calls in any 60 s window.
	RPM int
	// Quota caps tokens per QuotaPeriod.
	Quota       int64
	QuotaPeriod Period
	// QuotaZone is the time zone of the quota's calendar periods; nil
	// means UTC. Budgets set it (budgets.time_zone).
	QuotaZone *time.Location
	// OnBackendDown is FailClosed (default) or LocalShare.
	OnBackendDown BackendDownMode
	// LocalShare is the fraction of TPM, RPM and Quota the in-process
	// fallback allows, in (0, 1]; used only with OnBackendDown LocalShare.
	LocalShare float64
}

// Validate reports every problem with l at once.
func (l *Limit) Validate() error {
	var errs []error
	if l.Key == "" {
		errs = append(errs, errors.New("limit key is empty"))
	}
	if l.TPM < 0 || l.RPM < 0 || l.Quota < 0 {
		errs = append(errs, fmt.Errorf("limit %q: tpm, rpm and quota must not be negative", l.Key))
	}
	if l.TPM == 0 && l.RPM == 0 && l.Quota == 0 {
		errs = append(errs, fmt.Errorf("limit %q: set at least one of tpm, rpm, quota", l.Key))
	}
	if l.Quota > 0 && !l.QuotaPeriod.Valid() {
		errs = append(errs, fmt.Errorf("limit %q: quota period %q is not hour, day, week, month or year", l.Key, l.QuotaPeriod))
	}
	switch l.OnBackendDown {
	case "", FailClosed:
	case LocalShare:
		if !(l.LocalShare > 0 && l.LocalShare <= 1) {
			errs = append(errs, fmt.Errorf("limit %q: local share %v must be in (0, 1]", l.Key, l.LocalShare))
		}
	default:
		errs = append(errs, fmt.Errorf("limit %q: on backend down %q is not fail_closed or local_share", l.Key, l.OnBackendDown))
	}
	return errors.Join(errs...)
}

// scaled returns a copy of l with every limit multiplied by LocalShare,
// never below 1 where the original limit was set.
func (l *Limit) scaled() *Limit {
	s := *l
	f := l.LocalShare
	if f <= 0 || f > 1 {
		f = 1
	}
	if l.TPM > 0 {
		s.TPM = max(1, int(float64(l.TPM)*f))
	}
	if l.RPM > 0 {
		s.RPM = max(1, int(float64(l.RPM)*f))
	}
	if l.Quota > 0 {
		s.Quota = max(1, int64(float64(l.Quota)*f))
	}
	return &s
}
