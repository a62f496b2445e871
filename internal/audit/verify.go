package audit

import (
	"crypto/subtle"
	"fmt"
)

// BrokenError says where the chain breaks: Seq is the first entry that is
// missing, out of place, or does not hash to what is stored.
type BrokenError struct {
	Seq    int64
	Reason string
}

// Error names the broken seq and why, for the CLI and logs.
func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit chain broken at seq %d: %s", e.Seq, e.Reason)
}

// Verifier checks a chain read in pages, oldest first, without holding it
// all in memory. The zero value expects the chain to start at seq 1.
type Verifier struct {
	n        int64
	lastSeq  int64
	lastHash string
	broken   *BrokenError
}

// Add checks the next entry. Once the chain is broken, every later call
// returns the first error.
func (v *Verifier) Add(e Entry) error {
	if v.broken != nil {
		return v.broken
	}
	prevHash := v.lastHash
	if v.lastSeq == 0 {
		prevHash = GenesisHash
	}
	want := v.lastSeq + 1
	switch {
	case e.Seq > want:
		v.broken = &BrokenError{Seq: want, Reason: fmt.Sprintf("entry missing (the next stored entry is seq %d)", e.Seq)}
	case e.Seq < want:
		v.broken = &BrokenError{Seq: want, Reason: fmt.Sprintf("found seq %d again in its place (entries duplicated or out of order)", e.Seq)}
	case !equal(e.PrevHash, prevHash):
		v.broken = &BrokenError{Seq: e.Seq, Reason: fmt.Sprintf("prev_hash does not match the hash of seq %d (an entry was inserted, removed or rewritten before it)", v.lastSeq)}
	case !equal(Hash(e), e.Hash):
		v.broken = &BrokenError{Seq: e.Seq, Reason: "stored hash does not match the entry's contents (the entry was edited)"}
	}
	if v.broken != nil {
		return v.broken
	}
	v.n++
	v.lastSeq, v.lastHash = e.Seq, e.Hash
	return nil
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// Count is how many entries verified so far.
func (v *Verifier) Count() int64 { return v.n }

// Head is the last verified entry's seq and hash (0 and "" before any).
// Recording the head elsewhere lets a later Verify detect the one change
// a chain cannot reveal by itself: deletion of its newest entries.
func (v *Verifier) Head() (seq int64, hash string) { return v.lastSeq, v.lastHash }

// Verify checks a whole chain, oldest first, starting at seq 1. It returns
// nil or a *BrokenError naming the first broken seq.
func Verify(entries []Entry) error {
	var v Verifier
	for _, e := range entries {
		if err := v.Add(e); err != nil {
			return err
		}
	}
	return nil
}
