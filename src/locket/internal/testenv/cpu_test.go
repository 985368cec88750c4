package testenv

import "testing"

func TestParseStat(t *testing.T) {
	line := "4242 (postgres) S 900 4242 4242 0 -1 4194560 1133 0 0 0 120 30 7 3 20 0 1 0 9921 227409920 5436 18446744073709551615"
	comm, ticks, ok := parseStat(line)
	if !ok || comm != "postgres" || ticks != 160 {
		t.Fatalf("parseStat = %q, %d, %v; want postgres, 160, true", comm, ticks, ok)
	}
	if comm, _, ok := parseStat("7 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 1 2 3 4 5 6"); !ok || comm != "a (b) c" {
		t.Fatalf("a name with parentheses: %q, %v", comm, ok)
	}
	if _, _, ok := parseStat("7 (x) R 1 2"); ok {
		t.Fatal("a short line parsed")
	}
}
