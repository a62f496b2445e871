package kql

import (
	"time"

	"github.com/moat-gw/moat/internal/reqlog"
)

// callerColumn is the KQL name of the log's caller column.
const callerColumn = "CallerId"

// callerIndexHint returns, for a where over the log itself whose predicate
// requires CallerId to equal a constant, a condition SQLite can find the
// caller's rows by: their ids in reqlog.CallerIndexTable, within the
// predicate's bounds on TimeGenerated, or an id past the index's through_id
// (the newest rows, which the store has not indexed yet). It admits every
// row the predicate does, and the predicate stays in the WHERE, so the
// result is the same with or without it; "" when it does not apply. Only
// the SQLite store keeps that index (its rows would otherwise each cost a
// random leaf of a (caller, time) index; docs/benchmarks.md).
func (b *builder) callerIndexHint(s *sel, pred expr) string {
	if b.d != SQLite || s.table != reqlog.SQLTable || s.sub != nil || len(s.union) > 0 {
		return ""
	}
	if col, _, ok := s.lookup(callerColumn); !ok || col.sql != qualify(s.alias, "caller") {
		return "" // renamed or recomputed by an extend: not the stored column
	}
	tcol, _, ok := s.lookup(timeColumn)
	rawTime := ok && tcol.sql == qualify(s.alias, "time")
	c := &ectx{b: b, s: s}
	var caller string
	found := false
	rng := span{unboundedLo, unboundedHi}
	for _, e := range conjuncts(pred) {
		if v, ok := callerEquals(c, e); ok && !found {
			caller, found = v, true
			continue
		}
		if rawTime && mentions(e, timeColumn) {
			if r, err := timeBound(c, e); err == nil {
				rng = span{max(rng.lo, r.lo), min(rng.hi, r.hi)}
			}
		}
	}
	if !found {
		return ""
	}
	sub := "SELECT id FROM " + quoteIdent(reqlog.CallerIndexTable) + " WHERE caller = " + b.param(caller)
	if rng.lo != unboundedLo {
		sub += " AND time >= " + b.param(time.UnixMicro(rng.lo).UTC())
	}
	if rng.hi != unboundedHi {
		sub += " AND time < " + b.param(time.UnixMicro(rng.hi).UTC())
	}
	id := qualify(s.alias, "id")
	return "(" + id + " IN (" + sub + ") OR " + id + " > (SELECT through_id FROM " +
		quoteIdent(reqlog.CallerIndexStateTable) + "))"
}

// callerEquals reports whether e is CallerId == a string constant, either
// way round, and returns the constant.
func callerEquals(c *ectx, e expr) (string, bool) {
	bin, ok := e.(*binaryExpr)
	if !ok || bin.op != "==" {
		return "", false
	}
	other := bin.r
	if id, ok := bin.l.(*identExpr); !ok || id.name != callerColumn {
		if id, ok := bin.r.(*identExpr); !ok || id.name != callerColumn {
			return "", false
		}
		other = bin.l
	}
	if mentions(other, callerColumn) {
		return "", false
	}
	x, err := c.expr(other)
	if err != nil {
		return "", false
	}
	v, ok := x.cval.(string)
	return v, ok
}
