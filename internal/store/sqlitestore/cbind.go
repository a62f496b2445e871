package sqlitestore

import (
	"context"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"unsafe"

	"github.com/moat-gw/moat/internal/reqlog"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// The request log's insert is the one statement moat runs per call, and the
// driver's binding was a third of its cost: modernc.org/sqlite copies every
// text value into a fresh C allocation, frees each after the run, and
// clears every parameter, 41 per row (docs/benchmarks.md, "Session 10").
// cInsert binds the same statement through SQLite's own API, on the write
// connection's handle: the values straight from the records (no driver
// value for each), every text of a chunk copied into one block of C memory
// the connection keeps, and bound by pointer (SQLITE_STATIC), so a chunk
// costs no allocation at all. Everything else on the connection still goes
// through the driver, the transaction of the insert among it.

// handle is the SQLite connection under a modernc.org/sqlite driver
// connection: its sqlite3* and the libc thread state the driver calls it
// with. Only the holder of the driver connection uses it (writeConn's,
// inside sql.Conn.Raw), as only it uses the driver's.
type handle struct {
	tls *libc.TLS
	db  uintptr // sqlite3*
}

// connHandle reads the handle of a modernc.org/sqlite connection from the
// driver's conn struct, after checking the fields it reads, db and tls, by
// name and type: a driver version that changed them gives ok false, and the
// store binds through the driver instead (TestWriteConnBindsDirectly fails
// then, so an upgrade that loses the fast path is seen).
func connHandle(c driver.Conn) (h handle, ok bool) {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return handle{}, false
	}
	e := v.Elem()
	t := e.Type()
	if t.Kind() != reflect.Struct || t.PkgPath() != "modernc.org/sqlite" || t.Name() != "conn" {
		return handle{}, false
	}
	db, okDB := t.FieldByName("db")
	tls, okTLS := t.FieldByName("tls")
	if !okDB || !okTLS || db.Type.Kind() != reflect.Uintptr || tls.Type != reflect.TypeFor[*libc.TLS]() {
		return handle{}, false
	}
	h = handle{
		db:  uintptr(e.FieldByIndex(db.Index).Uint()),
		tls: (*libc.TLS)(e.FieldByIndex(tls.Index).UnsafePointer()),
	}
	return h, h.db != 0 && h.tls != nil
}

// error returns SQLite's message and extended code for the last call on h
// that failed; it must be read before any other call on h.
func (h handle) error() error {
	msg := libc.GoString(sqlite3.Xsqlite3_errmsg(h.tls, h.db))
	return fmt.Errorf("sqlite: %s (%d)", msg, sqlite3.Xsqlite3_extended_errcode(h.tls, h.db))
}

// cstmt is a statement prepared on a handle.
type cstmt struct {
	h      handle
	p      uintptr // sqlite3_stmt*
	params int
}

// prepare compiles one statement on h, kept for reuse (PERSISTENT).
func (h handle) prepare(query string) (*cstmt, error) {
	z, err := libc.CString(query)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(h.tls, z)
	out := h.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer h.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	if rc := sqlite3.Xsqlite3_prepare_v3(h.tls, h.db, z, -1, sqlite3.SQLITE_PREPARE_PERSISTENT, out, 0); rc != sqlite3.SQLITE_OK {
		return nil, h.error()
	}
	p := readPtr(out)
	if p == 0 {
		return nil, errors.New("sqlite: no statement in the query")
	}
	return &cstmt{h: h, p: p, params: int(sqlite3.Xsqlite3_bind_parameter_count(h.tls, p))}, nil
}

// readPtr reads the pointer stored at p, in C memory.
func readPtr(p uintptr) uintptr {
	b := libc.GoBytes(p, int(unsafe.Sizeof(uintptr(0))))
	if len(b) == 8 {
		return uintptr(binary.NativeEndian.Uint64(b))
	}
	return uintptr(binary.NativeEndian.Uint32(b))
}

// close finalizes the statement; it must run before its connection closes.
func (s *cstmt) close() error {
	if s.p == 0 {
		return nil
	}
	rc := sqlite3.Xsqlite3_finalize(s.h.tls, s.p)
	s.p = 0
	if rc != sqlite3.SQLITE_OK {
		return s.h.error()
	}
	return nil
}

// Kinds of a bound value.
const (
	cInt64 = iota
	cFloat
	cText
)

// cparam is one value of a chunk, in column order: an integer, a float,
// or a text n bytes long at offset i of the chunk's text block (n is -1
// for a text longer than SQLite takes).
type cparam struct {
	kind uint8
	n    int32
	i    int64 // the integer, or the text's offset
	f    float64
}

// cInsert is the request log's insert of a chunk of records, run on the
// write connection's handle (see the comment at the top of this file).
// Statements are per chunk size, as multiRow's.
type cInsert struct {
	h     handle
	stmts map[int]*cstmt // by row count: max, max/2, …, 1

	// The chunk being bound, kept for the next.
	params []cparam
	text   []byte
	// block is C memory holding the text of the chunk being bound. The
	// statements' text parameters point into it after their run too, but
	// no statement runs before exec binds all its parameters again, so a
	// block may be freed between two runs (a large one is, at once).
	block     uintptr
	blockSize int
}

// blockKeep is the largest text block (and Go buffer) kept between chunks;
// a chunk of large bodies has its own, freed as soon as it has run.
const blockKeep = 1 << 20

// prepareCInsert prepares build(n) on h for every chunk size n, as
// prepareMultiRow does, and checks each takes cols values a row.
func prepareCInsert(h handle, max, cols int, build func(rows int) string) (*cInsert, error) {
	ins := &cInsert{h: h, stmts: map[int]*cstmt{}}
	for n := max; n >= 1; n /= 2 {
		st, err := h.prepare(build(n))
		if err != nil {
			return nil, errors.Join(err, ins.Close())
		}
		ins.stmts[n] = st
		if st.params != n*cols {
			return nil, errors.Join(fmt.Errorf("insert of %d rows takes %d values, want %d", n, st.params, n*cols), ins.Close())
		}
	}
	return ins, nil
}

// exec inserts recs, whose length is a chunk size, and returns the rows it
// changed (those it did not skip as already stored).
func (ins *cInsert) exec(ctx context.Context, recs []reqlog.Record) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	st, ok := ins.stmts[len(recs)]
	if !ok {
		return 0, fmt.Errorf("no statement for %d rows", len(recs))
	}
	ins.params, ins.text = ins.params[:0], ins.text[:0]
	for i := range recs {
		writeRecord(ins, &recs[i])
	}
	if len(ins.params) != st.params {
		return 0, fmt.Errorf("%d records give %d values, the insert takes %d", len(recs), len(ins.params), st.params)
	}
	if err := ins.copyText(); err != nil {
		return 0, err
	}
	tls, p := ins.h.tls, st.p
	// Held across the chunk, SQLite's connection mutex (recursive) is taken
	// again by each call below at the cost of a counter, not of a lock.
	mu := sqlite3.Xsqlite3_db_mutex(tls, ins.h.db)
	sqlite3.Xsqlite3_mutex_enter(tls, mu)
	defer sqlite3.Xsqlite3_mutex_leave(tls, mu)
	for i, v := range ins.params {
		var rc int32
		switch v.kind {
		case cInt64:
			rc = sqlite3.Xsqlite3_bind_int64(tls, p, int32(i+1), v.i)
		case cFloat:
			rc = sqlite3.Xsqlite3_bind_double(tls, p, int32(i+1), v.f)
		case cText:
			if v.n < 0 {
				return 0, fmt.Errorf("bind value %d: sqlite: text over 2 GiB", i+1)
			}
			// SQLITE_STATIC: the block outlives the run.
			rc = sqlite3.Xsqlite3_bind_text(tls, p, int32(i+1), ins.block+uintptr(v.i), v.n, 0)
		}
		if rc != sqlite3.SQLITE_OK {
			return 0, fmt.Errorf("bind value %d: %w", i+1, ins.h.error())
		}
	}
	rc := sqlite3.Xsqlite3_step(tls, p)
	var err error
	if rc != sqlite3.SQLITE_DONE {
		err = ins.h.error()
	}
	changed := int64(sqlite3.Xsqlite3_changes64(tls, ins.h.db))
	sqlite3.Xsqlite3_reset(tls, p)
	if cap(ins.text) > blockKeep {
		ins.text = nil
	}
	if ins.blockSize > blockKeep {
		libc.Xfree(tls, ins.block)
		ins.block, ins.blockSize = 0, 0
	}
	if err != nil {
		return 0, err
	}
	return changed, nil
}

// copyText copies the chunk's text into the block, replacing it by a
// larger one as needed (of the chunk's size past blockKeep). The statements
// then point into the old one no longer than until they are bound again,
// which exec does before any run.
func (ins *cInsert) copyText() error {
	need := max(len(ins.text), 1)
	if need > ins.blockSize {
		if ins.block != 0 {
			libc.Xfree(ins.h.tls, ins.block)
			ins.block, ins.blockSize = 0, 0
		}
		size := need
		if need <= blockKeep {
			size = max(need, 64<<10) // room for a usual chunk and more
		}
		p := libc.Xmalloc(ins.h.tls, libc.Tsize_t(size))
		if p == 0 {
			return fmt.Errorf("sqlite: cannot allocate %d bytes for a chunk's text", size)
		}
		ins.block, ins.blockSize = p, size
	}
	copy(libc.GoBytes(ins.block, len(ins.text)), ins.text)
	return nil
}

// Close finalizes the statements and frees the block; it must run before
// the connection closes.
func (ins *cInsert) Close() error {
	var errs []error
	for _, st := range ins.stmts {
		errs = append(errs, st.close())
	}
	ins.stmts = nil
	if ins.block != 0 {
		libc.Xfree(ins.h.tls, ins.block)
		ins.block, ins.blockSize = 0, 0
	}
	return errors.Join(errs...)
}

// The columnWriter of a chunk (writeRecord).
func (ins *cInsert) int64Col(v int64)   { ins.params = append(ins.params, cparam{kind: cInt64, i: v}) }
func (ins *cInsert) floatCol(v float64) { ins.params = append(ins.params, cparam{kind: cFloat, f: v}) }
func (ins *cInsert) boolCol(v bool) {
	var i int64
	if v {
		i = 1
	}
	ins.params = append(ins.params, cparam{kind: cInt64, i: i})
}
func (ins *cInsert) textCol(v string) {
	if len(v) > math.MaxInt32 {
		// exec refuses it: SQLite takes a length of 32 bits.
		ins.params = append(ins.params, cparam{kind: cText, n: -1})
		return
	}
	ins.params = append(ins.params, cparam{kind: cText, i: int64(len(ins.text)), n: int32(len(v))})
	ins.text = append(ins.text, v...)
}
