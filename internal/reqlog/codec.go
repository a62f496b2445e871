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
// byte and the field count. Because it walks Values and ScanTargets, a new
// column is spooled without touching this file; a record spooled by an
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

// appendRecord appends r's spool encoding to dst.
func appendRecord(dst []byte, r *Record) []byte {
	vals := r.Values()
	dst = append(dst, codecVersion)
	dst = binary.AppendUvarint(dst, uint64(len(vals)))
	for _, v := range vals {
		switch v := v.(type) {
		case time.Time:
			dst = append(dst, tagTime)
			dst = binary.AppendVarint(dst, v.Unix())
			dst = binary.AppendUvarint(dst, uint64(v.Nanosecond()))
		case string:
			dst = append(dst, tagString)
			dst = binary.AppendUvarint(dst, uint64(len(v)))
			dst = append(dst, v...)
		case int:
			dst = append(dst, tagInt)
			dst = binary.AppendVarint(dst, int64(v))
		case int64:
			dst = append(dst, tagInt)
			dst = binary.AppendVarint(dst, v)
		case float64:
			dst = append(dst, tagReal)
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
		case bool:
			b := byte(0)
			if v {
				b = 1
			}
			dst = append(dst, tagBool, b)
		default:
			panic(fmt.Sprintf("reqlog: no spool encoding for %T", v)) // a new column type needs one
		}
	}
	return dst
}

// decodeRecord decodes a record encoded by appendRecord.
func decodeRecord(b []byte) (Record, error) {
	var r Record
	if len(b) == 0 || b[0] != codecVersion {
		return r, fmt.Errorf("%w: unknown version", errCodec)
	}
	d := decoder{b: b[1:]}
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

// decoder reads fields off b, keeping the first error.
type decoder struct {
	b   []byte
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
		s := string(d.take(d.uvarint()))
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
