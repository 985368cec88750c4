package store

import (
	"database/sql/driver"
	"math"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// TestCheckFetchAllColumns: EachLock reads Postgres's raw bytes by column
// position, so a result of another shape is refused, not misread.
func TestCheckFetchAllColumns(t *testing.T) {
	good := func() []pgconn.FieldDescription {
		fds := make([]pgconn.FieldDescription, 7)
		for i := range fds {
			fds[i].DataTypeOID = pgtype.Int8OID
			if i < 4 {
				fds[i].DataTypeOID = pgtype.TextOID
			}
		}
		fds[0].DataTypeOID = pgtype.VarcharOID // path
		return fds
	}
	if err := checkFetchAllColumns(good()); err != nil {
		t.Fatalf("the fetch-all columns: %v", err)
	}
	int4 := good()
	int4[6].DataTypeOID = pgtype.Int4OID
	if err := checkFetchAllColumns(int4); err == nil || !strings.Contains(err.Error(), "column 7") {
		t.Errorf("an int4 column: %v, want an error naming column 7", err)
	}
	bytea := good()
	bytea[2].DataTypeOID = pgtype.ByteaOID
	if err := checkFetchAllColumns(bytea); err == nil || !strings.Contains(err.Error(), "column 3") {
		t.Errorf("a bytea column: %v, want an error naming column 3", err)
	}
	if err := checkFetchAllColumns(good()[:6]); err == nil {
		t.Error("six columns: no error")
	}
}

// TestDriverValues: the values database/sql drivers hand over for text and
// BIGINT columns.
func TestDriverValues(t *testing.T) {
	for _, c := range []struct {
		in   driver.Value
		want int64
		ok   bool
	}{
		{int64(-5), -5, true},
		{uint64(7), 7, true},
		{uint64(math.MaxInt64 + 1), 0, false},
		{[]byte("-42"), -42, true},
		{[]byte("4x"), 0, false},
		{nil, 0, true},
		{1.5, 0, false},
	} {
		got, err := int64Value(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("int64Value(%#v) = %d, %v; want %d, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
	for _, c := range []struct {
		in   driver.Value
		want string
		ok   bool
	}{
		{[]byte("cell"), "cell", true},
		{"cell", "cell", true},
		{nil, "", true},
		{int64(1), "", false},
	} {
		got, err := bytesValue(c.in)
		if (err == nil) != c.ok || string(got) != c.want {
			t.Errorf("bytesValue(%#v) = %q, %v; want %q, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}
