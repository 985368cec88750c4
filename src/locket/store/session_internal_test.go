package store

import (
	"context"
	"strings"
	"testing"

	"github.com/locket-release/locket/internal/testenv"
)

// TestMySQLSession: every connection gets strict mode and UTC, also when the
// DSN asks for a mode without strictness.
func TestMySQLSession(t *testing.T) {
	if !strings.Contains(strings.Join(testenv.Drivers(), ","), "mysql") {
		t.Skip("mysql not in LOCKET_TEST_DRIVERS")
	}
	db := testenv.NewDatabase(t, "mysql")
	for _, dsn := range []string{db.DSN, db.DSN + "?sql_mode=%27ANSI_QUOTES%27", db.DSN + "?sql_mode=%27%27"} {
		st, err := Open(Config{Driver: "mysql", DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		var mode, tz string
		if err := st.db.QueryRowContext(context.Background(), "SELECT @@SESSION.sql_mode, @@SESSION.time_zone").Scan(&mode, &tz); err != nil {
			t.Fatal(err)
		}
		st.Close()
		if !strings.Contains(mode, "STRICT_ALL_TABLES") || tz != "+00:00" {
			t.Errorf("%s: sql_mode %q, time_zone %q", dsn, mode, tz)
		}
		if strings.Contains(dsn, "ANSI_QUOTES") && !strings.Contains(mode, "ANSI_QUOTES") {
			t.Errorf("the DSN's sql_mode was dropped: %q", mode)
		}
	}
}
