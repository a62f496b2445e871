package reqlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// The spool codec: how a Record is laid out in a spool segment. Fields
// follow Columns order, each a type tag and a value, preceded by a version
// byte and the field count. Decoding walks ScanTargets, and encoding walks
// Values past the columns it names, so a new column is spooled without
// touching this file; a record spooled by an
// older moat (fewer fields) decodes with the new fields zero, and one from
// a newer moat has its extra fields skipped.
const codecVersion = 1

// Field tags.
const (
	tagTime   = 't'
	tagString = 's'
	tagInt    = 'i'
	tagReal   = 'f'
	tagBool   = 'b'
)

var errCodec = errors.New("spooled record is malformed")

// appendRecord appends r's spool encoding to dst. The columns known when
// it was written are encoded field by field, without boxing each value in
// an interface (that was about 20 allocations per call); columns added
// after them go through Values, so a new column is still spooled without
// touching this file (TestCodecCoversEveryColumn).
func appendRecord(dst []byte, r *Record) []byte {
	dst = append(dst, codecVersion)
	dst = binary.AppendUvarint(dst, uint64(len(columns)))
	dst = appendTime(dst, r.Time.UTC())
	for _, s := range [...]string{r.RequestID, r.Caller, r.AuthType, r.ClientIP, r.Listener,
		r.Deployment, r.Model, r.Upstream, r.Operation, r.APIVersion, r.Method, r.Path} {
		dst = appendString(dst, s)
	}
	dst = appendInt(dst, int64(r.Status))
	dst = appendInt(dst, int64(r.UpstreamStatus))
	dst = appendString(dst, r.ErrorKind)
	dst = appendString(dst, r.ErrorMessage)
	dst = appendReal(dst, r.TotalMs)
	dst = appendReal(dst, r.UpstreamMs)
	dst = appendReal(dst, r.FirstByteMs)
	dst = appendInt(dst, int64(r.PromptTokens))
	dst = appendInt(dst, int64(r.CompletionTokens))
	dst = appendInt(dst, int64(r.TotalTokens))
	dst = appendBool(dst, r.TokensEstimated)
	dst = appendBool(dst, r.Streamed)
	dst = appendInt(dst, r.RequestBytes)
	dst = appendInt(dst, r.ResponseBytes)
	dst = appendString(dst, r.Region)
	dst = appendInt(dst, int64(r.Attempts))
	dst = appendString(dst, r.RequestBody)
	dst = appendString(dst, r.ResponseBody)
	dst = appendString(dst, r.Replica)
	dst = appendReal(dst, r.FirstTokenMs)
	dst = appendString(dst, r.Guardrail)
	for _, s := range [...]string{r.KeyName, r.Owner, r.Team} {
		dst = appendString(dst, s)
	}
	dst = appendReal(dst, r.Cost)
	dst = appendString(dst, r.PriceVersion)
	dst = appendString(dst, r.Headers)
	if len(columns) > encodedColumns {
		for _, v := range r.Values()[encodedColumns:] {
			dst = appendValue(dst, v)
		}
	}
	return dst
}

// encodedColumns is how many columns appendRecord encodes by name.
const encodedColumns = 40

func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, tagTime)
	dst = binary.AppendVarint(dst, t.Unix())
	return binary.AppendUvarint(dst, uint64(t.Nanosecond()))
}

func appendString(dst []byte, s string) []byte {
	dst = append(dst, tagString)
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendInt(dst []byte, v int64) []byte {
	return binary.AppendVarint(append(dst, tagInt), v)
}

func appendReal(dst []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(append(dst, tagReal), math.Float64bits(v))
}

func appendBool(dst []byte, v bool) []byte {
	b := byte(0)
	if v {
		b = 1
	}
	return append(dst, tagBool, b)
}

// appendValue encodes one value of Values.
func appendValue(dst []byte, v any) []byte {
	switch v := v.(type) {
	case time.Time:
		return appendTime(dst, v)
	case string:
		return appendString(dst, v)
	case int:
		return appendInt(dst, int64(v))
	case int64:
		return appendInt(dst, v)
	case float64:
		return appendReal(dst, v)
	case bool:
		return appendBool(dst, v)
	}
	panic(fmt.Sprintf("reqlog: no spool encoding for %T", v)) // a new column type needs one
}

// decodeRecord decodes a record encoded by appendRecord.
func decodeRecord(b []byte) (Record, error) {
	var r Record
	if len(b) == 0 || b[0] != codecVersion {
		return r, fmt.Errorf("%w: unknown version", errCodec)
	}
	// The strings of a record are cut from one conversion of its bytes:
	// one allocation per record rather than one per string column. Any
	// one string kept keeps the whole record (bodies included) in memory:
	// decoded records go to the store and are dropped; a caller that
	// keeps a field should clone it.
	d := decoder{b: b[1:], str: string(b[1:])}
	n := d.uvarint()
	targets := r.ScanTargets()[1:] // no ID: the store assigns it
	for i := uint64(0); i < n && d.err == nil; i++ {
		var dst any
		if i < uint64(len(targets)) {
			dst = targets[i]
		}
		d.field(dst)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errCodec, len(d.b))
	}
	return r, d.err
}

// decoder reads fields off b, keeping the first error. str, when set,
// holds what b held at the start, as a string.
type decoder struct {
	b   []byte
	str string
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errCodec, what)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) take(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.fail("short field")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// field decodes one field into dst, a ScanTargets pointer, or skips it
// when dst is nil. A tag that does not fit dst's type is an error.
func (d *decoder) field(dst any) {
	tag := d.take(1)
	if d.err != nil {
		return
	}
	ok := dst == nil
	switch tag[0] {
	case tagTime:
		sec, nsec := d.varint(), d.uvarint()
		if nsec >= 1e9 {
			d.fail("bad time")
		}
		if p, is := dst.(*time.Time); is {
			*p, ok = time.Unix(sec, int64(nsec)).UTC(), true
		}
	case tagString:
		n := d.uvarint()
		at := len(d.str) - len(d.b)
		v := d.take(n)
		s := ""
		if d.err == nil && len(d.str) > 0 {
			s = d.str[at : at+len(v)]
		} else {
			s = string(v)
		}
		if p, is := dst.(*string); is {
			*p, ok = s, true
		}
	case tagInt:
		v := d.varint()
		switch p := dst.(type) {
		case *int:
			*p, ok = int(v), true
		case *int64:
			*p, ok = v, true
		}
	case tagReal:
		b := d.take(8)
		if p, is := dst.(*float64); is && len(b) == 8 {
			*p, ok = math.Float64frombits(binary.LittleEndian.Uint64(b)), true
		}
	case tagBool:
		v := d.take(1)
		if p, is := dst.(*bool); is && len(v) == 1 {
			*p, ok = v[0] != 0, true
		}
	default:
		d.fail("unknown field type")
	}
	if !ok {
		d.fail(fmt.Sprintf("field type %q does not fit %T", tag[0], dst))
	}
}
