package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/moat-gw/moat/internal/audit"
)

// Audit page sizes.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// AuditEntries returns up to limit entries after seq after, oldest first;
// limit 0 means DefaultAuditLimit.
func (s *Service) AuditEntries(ctx context.Context, after int64, limit int) ([]audit.Entry, error) {
	switch {
	case after < 0:
		return nil, badRequest("after: want a sequence number >= 0")
	case limit < 0 || limit > MaxAuditLimit:
		return nil, badRequest("limit: want 1 to %d", MaxAuditLimit)
	case limit == 0:
		limit = DefaultAuditLimit
	}
	es, err := s.audit.AuditAfter(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return es, nil
}

// AuditReport is the outcome of verifying the whole audit chain.
type AuditReport struct {
	// OK is true when every entry links to the previous one and hashes
	// to what is stored.
	OK bool `json:"ok"`
	// Entries is how many entries verified.
	Entries int64 `json:"entries"`
	// HeadSeq and HeadHash name the last verified entry. Keep a copy
	// elsewhere: the chain alone cannot reveal deletion of its newest
	// entries.
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// BrokenSeq is the first broken seq when OK is false.
	BrokenSeq int64 `json:"broken_seq,omitempty"`
	// Problem says what is wrong at BrokenSeq.
	Problem string `json:"problem,omitempty"`
}

// VerifyAudit reads the whole chain, a page at a time, and verifies it. A
// broken chain is a report, not an error; errors are store failures.
func (s *Service) VerifyAudit(ctx context.Context) (AuditReport, error) {
	var (
		v     audit.Verifier
		after int64
		rep   AuditReport
	)
	for {
		page, err := s.audit.AuditAfter(ctx, after, MaxAuditLimit)
		if err != nil {
			return AuditReport{}, fmt.Errorf("verify audit log: %w", err)
		}
		for _, e := range page {
			if err := v.Add(e); err != nil {
				var be *audit.BrokenError
				if !errors.As(err, &be) {
					return AuditReport{}, err
				}
				rep.BrokenSeq, rep.Problem = be.Seq, be.Reason
				rep.Entries = v.Count()
				rep.HeadSeq, rep.HeadHash = v.Head()
				return rep, nil
			}
			after = e.Seq
		}
		if len(page) < MaxAuditLimit {
			break
		}
	}
	rep.OK, rep.Entries = true, v.Count()
	rep.HeadSeq, rep.HeadHash = v.Head()
	return rep, nil
}
