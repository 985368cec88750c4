package store

import (
	"context"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// RawLock is a row as EachLock reads it: the fields of FetchAll, with the
// text columns as the driver's bytes, valid only until the callback returns,
// and NULLs (rows upstream wrote lack our columns) as empty or zero.
type RawLock struct {
	Key, Owner, Value, Type             []byte
	FencingToken, AcquiredAt, ExpiresIn int64
}

// EachLock calls f for every owned lock of type typ ("" for all types), in
// no particular order, without copying the text columns: a server encodes
// 10,000 presences straight from the driver's buffers (server FetchAll).
//
// It reads below database/sql, whose rows cost more than the rest of the
// read: a lock taken and a value converted per column per row, and over
// pgx a string made of every text column. Reading 10,000 rows this way
// takes about two thirds of the CPU on MariaDB and under half on Postgres
// (BenchmarkFetchAll/*/each, docs/benchmarks.md).
func (s *Store) EachLock(ctx context.Context, typ string, f func(RawLock) error) error {
	q, args := s.q.fetchAll, []any(nil)
	if typ != "" {
		q, args = s.q.fetchAllTyped, []any{typ}
	}
	done := s.stats.begin()
	err := s.rawConn(ctx, func(dc any) error {
		if c, ok := dc.(*stdlib.Conn); ok {
			return eachLockPgx(ctx, c, q, args, f)
		}
		return eachLockDriver(ctx, dc, q, args, f)
	})
	done(err)
	if err != nil {
		return fmt.Errorf("fetch all %q: %w", typ, err)
	}
	return nil
}

// rawConn runs f with a pooled connection's driver connection. database/sql
// checks a pooled connection before handing it out here as for its own
// statements (the drivers' ResetSession: MySQL's looks for a closed socket,
// pgx's pings one idle for over a second); one that f left broken is dropped
// at its next checkout.
func (s *Store) rawConn(ctx context.Context, f func(dc any) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(f)
}

// eachLockPgx reads through pgx's own interface: its raw values are the
// bytes it read off the connection.
func eachLockPgx(ctx context.Context, c *stdlib.Conn, q string, args []any, f func(RawLock) error) error {
	rows, err := c.Conn().Query(ctx, q, append([]any{fetchAllFormats}, args...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for first := true; rows.Next(); first = false {
		if first {
			if err := checkFetchAllColumns(rows.FieldDescriptions()); err != nil {
				return err
			}
		}
		v := rows.RawValues()
		if len(v[1]) == 0 {
			continue // unowned (upstream never writes one)
		}
		l := RawLock{Key: v[0], Owner: v[1], Value: v[2], Type: v[3]}
		for i, n := range []*int64{&l.FencingToken, &l.AcquiredAt, &l.ExpiresIn} {
			switch b := v[4+i]; len(b) {
			case 8:
				*n = int64(binary.BigEndian.Uint64(b))
			case 0: // NULL
			default:
				return fmt.Errorf("lock %q: column %d has %d bytes, want a bigint's 8", l.Key, 5+i, len(b))
			}
		}
		if err := f(l); err != nil {
			return err
		}
	}
	return rows.Err()
}

// fetchAllWidth is how many columns fetchAllColumns selects.
const fetchAllWidth = 7

// fetchAllFormats: the four text columns of fetchAllColumns as text (their
// bytes are the string), the three BIGINTs in binary (eight bytes each).
var fetchAllFormats = pgx.QueryResultFormats{
	pgx.TextFormatCode, pgx.TextFormatCode, pgx.TextFormatCode, pgx.TextFormatCode,
	pgx.BinaryFormatCode, pgx.BinaryFormatCode, pgx.BinaryFormatCode,
}

// checkFetchAllColumns makes sure the result is what fetchAllFormats reads:
// a column whose type changed must fail the read, not be misread.
func checkFetchAllColumns(fds []pgconn.FieldDescription) error {
	if len(fds) != fetchAllWidth {
		return fmt.Errorf("%d columns, want %d", len(fds), fetchAllWidth)
	}
	for i, fd := range fds {
		want := uint32(pgtype.Int8OID)
		if i < 4 {
			want = pgtype.TextOID
			if fd.DataTypeOID == pgtype.VarcharOID {
				continue
			}
		}
		if fd.DataTypeOID != want {
			return fmt.Errorf("column %d (%s) has type OID %d, want %d", i+1, fd.Name, fd.DataTypeOID, want)
		}
	}
	return nil
}

// eachLockDriver reads through the database/sql driver interface (MySQL,
// SQLite): the MySQL driver's text columns are slices of its read buffer.
func eachLockDriver(ctx context.Context, dc any, q string, args []any, f func(RawLock) error) error {
	rows, err := driverQuery(ctx, dc, q, args)
	if err != nil {
		return err
	}
	defer rows.Close()
	if n := len(rows.Columns()); n != fetchAllWidth {
		return fmt.Errorf("%d columns, want %d", n, fetchAllWidth)
	}
	dest := make([]driver.Value, fetchAllWidth)
	for {
		if err := rows.Next(dest); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		var l RawLock
		for i, b := range []*[]byte{&l.Key, &l.Owner, &l.Value, &l.Type} {
			if *b, err = bytesValue(dest[i]); err != nil {
				return fmt.Errorf("column %d: %w", i+1, err)
			}
		}
		if len(l.Owner) == 0 {
			continue // unowned (upstream never writes one)
		}
		for i, n := range []*int64{&l.FencingToken, &l.AcquiredAt, &l.ExpiresIn} {
			if *n, err = int64Value(dest[4+i]); err != nil {
				return fmt.Errorf("lock %q: column %d: %w", l.Key, 5+i, err)
			}
		}
		if err := f(l); err != nil {
			return err
		}
	}
}

// driverQuery runs q on a driver connection, preparing it first where the
// driver asks for that (driver.ErrSkip), as database/sql does.
func driverQuery(ctx context.Context, dc any, q string, args []any) (driver.Rows, error) {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	if qc, ok := dc.(driver.QueryerContext); ok {
		rows, err := qc.QueryContext(ctx, q, nv)
		if !errors.Is(err, driver.ErrSkip) {
			return rows, err
		}
	}
	pc, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return nil, fmt.Errorf("the %T driver connection can neither query nor prepare with a context", dc)
	}
	st, err := pc.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	sq, ok := st.(driver.StmtQueryContext)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("the %T statement cannot query with a context", st)
	}
	rows, err := sq.QueryContext(ctx, nv)
	if err != nil {
		st.Close()
		return nil, err
	}
	return stmtRows{rows, st}, nil
}

// stmtRows closes the statement it was read from with the rows.
type stmtRows struct {
	driver.Rows
	st driver.Stmt
}

func (r stmtRows) Close() error {
	return errors.Join(r.Rows.Close(), r.st.Close())
}

// bytesValue is a text column as bytes: MySQL's are []byte, a string
// (SQLite) is copied.
func bytesValue(v driver.Value) ([]byte, error) {
	switch x := v.(type) {
	case []byte:
		return x, nil
	case string:
		return []byte(x), nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("a text column holds a %T", v)
}

// int64Value is a BIGINT column: MySQL's text protocol parses it into an
// int64 (a uint64 when unsigned).
func int64Value(v driver.Value) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("%d is out of range", x)
		}
		return int64(x), nil
	case []byte:
		return strconv.ParseInt(string(x), 10, 64)
	case nil:
		return 0, nil
	}
	return 0, fmt.Errorf("an integer column holds a %T", v)
}
