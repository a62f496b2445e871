package sqlitestore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/moat-gw/moat/internal/reqlog"
)

// sqliteConn is what database/sql uses of a modernc.org/sqlite connection;
// writeConn passes it all on, so the write pool behaves as it would on the
// driver's connection itself.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.SessionResetter
	driver.Validator
	driver.Pinger
}

// writeConnector opens the write pool's connections as writeConns.
type writeConnector struct {
	driver.Connector
	insertSQL func(rows int) string // the request_log insert of rows records
	// driverBind binds the insert's values through the driver even where
	// the connection's handle is at hand (cInsert): for the tests of that
	// path, which a driver upgrade could bring back.
	driverBind bool
}

// Connect opens a connection of the write pool.
func (c *writeConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(sqliteConn)
	if !ok {
		return nil, errors.Join(fmt.Errorf("sqlite driver connection %T lacks a method database/sql uses", conn), conn.Close())
	}
	wc := &writeConn{sqliteConn: sc, insertSQL: c.insertSQL}
	if !c.driverBind {
		wc.handle, wc.direct = connHandle(conn)
	}
	return wc, nil
}

// writeConn is a connection of the write pool that holds the request log's
// statements, prepared on it. WriteBatch runs them on the driver's
// connection (sql.Conn.Raw): database/sql would convert every argument
// (64 rows of 40 columns per insert), allocate for each, and start a
// goroutine per transaction to watch its context. Statements belonging to
// the connection, rather than to the store, close with it whenever
// database/sql drops it (a connection it finds bad, or past a lifetime), while
// SQLite can still finalize them.
type writeConn struct {
	sqliteConn
	insertSQL func(rows int) string
	handle    handle // the SQLite connection under sqliteConn, when direct
	direct    bool   // the request_log insert runs on handle (cInsert)

	// Prepared on first use, nil until then. Only the holder of the
	// connection (Raw's function, or Close) touches them.
	cinsert *cInsert  // the request_log inserts, when direct
	insert  *multiRow // the request_log inserts, otherwise
	rollup  *multiRow // the rollup upserts
	// Buffers of WriteBatch, kept for the next: a chunk's values, the
	// same as the driver's arguments, and the keys its insert returned.
	vals []any
	args []driver.NamedValue
	keys []recordKey
}

// statements prepares the connection's request log statements the first
// time, and returns the rollup's (insertRecords runs the inserts).
func (c *writeConn) statements(ctx context.Context) (rollup *multiRow, err error) {
	switch {
	case c.direct && c.cinsert == nil:
		if c.cinsert, err = prepareCInsert(c.handle, insertChunk, len(reqlog.Columns()), c.insertSQL); err != nil {
			return nil, fmt.Errorf("prepare request log insert: %w", err)
		}
	case !c.direct && c.insert == nil:
		if c.insert, err = prepareMultiRow(ctx, c.sqliteConn, insertChunk, c.insertSQL); err != nil {
			return nil, fmt.Errorf("prepare request log insert: %w", err)
		}
	}
	if c.rollup == nil {
		if c.rollup, err = prepareMultiRow(ctx, c.sqliteConn, rollupChunk, rollupUpsertSQL); err != nil {
			return nil, fmt.Errorf("prepare rollup upsert: %w", err)
		}
	}
	return c.rollup, nil
}

// insertChunk inserts chunk, whose length is a chunk size (chunks), with
// the statements prepared, and returns the rows it changed.
func (c *writeConn) insertChunk(ctx context.Context, chunk []reqlog.Record) (int64, error) {
	if c.cinsert != nil {
		return c.cinsert.exec(ctx, chunk)
	}
	if c.insert == nil {
		return 0, errors.New("request log insert not prepared")
	}
	vals := c.vals[:0]
	for i := range chunk {
		vals = appendValues(vals, &chunk[i])
	}
	c.vals = vals
	st, err := c.insert.stmt(len(chunk))
	if err != nil {
		return 0, err
	}
	if c.args, err = namedValues(c.args, vals); err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, c.args)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// inTx runs f in a transaction on c as database/sql's Tx would: it begins
// IMMEDIATE (the pool's _txlock), rolls back when f fails, and does not
// commit once ctx is done. The buffers then let go of the values f bound,
// bodies among them.
func (c *writeConn) inTx(ctx context.Context, f func() error) error {
	defer func() {
		clear(c.vals[:cap(c.vals)])
		clear(c.args[:cap(c.args)])
		clear(c.keys[:cap(c.keys)])
	}()
	tx, err := c.BeginTx(ctx, driver.TxOptions{})
	if err != nil {
		return err
	}
	if err := f(); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := ctx.Err(); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("commit: %w", err)
	}
	// A failed COMMIT has rolled back already (the driver sees to it).
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Close finalizes the connection's statements, then closes it: once the
// connection is closed, its statements can no longer be.
func (c *writeConn) Close() error {
	var errs []error
	for _, m := range []*multiRow{c.insert, c.rollup} {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	if c.cinsert != nil {
		errs = append(errs, c.cinsert.Close())
	}
	c.cinsert, c.insert, c.rollup = nil, nil, nil
	return errors.Join(append(errs, c.sqliteConn.Close())...)
}
