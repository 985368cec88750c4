package store

import (
	"regexp"
	"testing"
)

// TestNewGUID: modified_id is a version 4 UUID in upstream's form, fresh
// every time.
func TestNewGUID(t *testing.T) {
	form := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		g, err := newGUID()
		if err != nil {
			t.Fatal(err)
		}
		if !form.MatchString(g) {
			t.Fatalf("%q is not a version 4 UUID", g)
		}
		if seen[g] {
			t.Fatalf("%q twice", g)
		}
		seen[g] = true
	}
}
