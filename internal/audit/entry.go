package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Actions recorded by the management plane. Stores accept any action
// string; these are the ones moat writes.
const (
	ActionKeyCreate     = "key.create"
	ActionKeyRevoke     = "key.revoke"
	ActionKeyRegenerate = "key.regenerate"
	ActionRoleAssign    = "role.assign"
	ActionRoleRemove    = "role.remove"
	// ActionLogsContentRead is a log query that read prompt or completion
	// text; Target is the surface (the query API's path), Details the
	// query (redacted) and the row count.
	ActionLogsContentRead = "logs.content.read"
)

// GenesisHash is the prev_hash of the first entry: 64 zeros, the hex of an
// all-zero SHA-256, so every entry has a prev_hash of the same shape.
var GenesisHash = strings.Repeat("0", sha256.Size*2)

// Record is what a caller asks to append. It holds no secrets: Target is a
// key or assignment ID, and Details must never carry a key or token.
type Record struct {
	// Time is when the action happened; it is stored at microsecond precision.
	Time time.Time
	// Actor is who acted: a principal's display ID, or "cli:<os user>".
	Actor string
	// Action is one of the Action constants.
	Action string
	// Target names what was acted on: a key ID or an assignment ID.
	Target string
	// Details is a JSON object describing the change; empty means {}.
	Details json.RawMessage
	// ClientIP is the caller's address; empty for the CLI.
	ClientIP string
}

// Entry is one stored link of the chain.
type Entry struct {
	// Seq numbers entries 1, 2, 3, ... with no gaps.
	Seq int64 `json:"seq"`
	// Time is when the action happened, UTC, microsecond precision.
	Time     time.Time       `json:"time"`
	Actor    string          `json:"actor"`
	Action   string          `json:"action"`
	Target   string          `json:"target"`
	Details  json.RawMessage `json:"details"`
	ClientIP string          `json:"client_ip"`
	// PrevHash is the previous entry's Hash (GenesisHash for seq 1).
	PrevHash string `json:"prev_hash"`
	// Hash is the lower-case hex SHA-256 of Canonical(e).
	Hash string `json:"hash"`
}

// Next links r after prev (nil for the first entry): it assigns the next
// sequence number, normalizes the time (UTC, microseconds) and the details
// (compact JSON object), and computes the hash. Stores call it while they
// hold the append lock, with the last stored entry as prev.
func Next(prev *Entry, r Record) (Entry, error) {
	if r.Actor == "" || r.Action == "" {
		return Entry{}, errors.New("audit record: actor and action are required")
	}
	details, err := compactObject(r.Details)
	if err != nil {
		return Entry{}, fmt.Errorf("audit record %s: %w", r.Action, err)
	}
	e := Entry{
		Seq:      1,
		Time:     r.Time.UTC().Truncate(time.Microsecond),
		Actor:    r.Actor,
		Action:   r.Action,
		Target:   r.Target,
		Details:  details,
		ClientIP: r.ClientIP,
		PrevHash: GenesisHash,
	}
	if prev != nil {
		e.Seq, e.PrevHash = prev.Seq+1, prev.Hash
	}
	e.Hash = Hash(e)
	return e, nil
}

// compactObject checks that details is a JSON object and compacts it, so
// that the stored bytes (which the hash covers) do not depend on spacing.
func compactObject(details json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(details)) == 0 {
		return json.RawMessage("{}"), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, details); err != nil {
		return nil, fmt.Errorf("details: %w", err)
	}
	if buf.Bytes()[0] != '{' {
		return nil, errors.New("details: want a JSON object")
	}
	return buf.Bytes(), nil
}

// canonicalTag starts every encoding, so that a future format cannot be
// confused with this one.
const canonicalTag = "moat.audit.v1"

// Canonical is the byte string an entry's hash covers: the tag
// "moat.audit.v1", then seq, time (Unix microseconds), actor, action,
// target, details, client_ip and prev_hash, each as a 4-byte big-endian
// length followed by its bytes (numbers in decimal). Length prefixes make
// the encoding injective: no two different entries encode alike, however
// their fields are chosen. Hash itself is not part of it.
func Canonical(e Entry) []byte {
	seq := strconv.FormatInt(e.Seq, 10)
	ts := strconv.FormatInt(e.Time.UnixMicro(), 10)
	fields := []string{canonicalTag, seq, ts, e.Actor, e.Action, e.Target, string(e.Details), e.ClientIP, e.PrevHash}
	n := 0
	for _, f := range fields {
		n += 4 + len(f)
	}
	b := make([]byte, 0, n)
	for _, f := range fields {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// Hash returns the lower-case hex SHA-256 of Canonical(e).
func Hash(e Entry) string {
	sum := sha256.Sum256(Canonical(e))
	return hex.EncodeToString(sum[:])
}
