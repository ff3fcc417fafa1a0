package id_test

import (
	"slices"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/id"
)

func TestNewSortsByTimeAndIsUnique(t *testing.T) {
	t.Parallel()
	var ids []string
	seen := map[string]bool{}
	for i := range 2000 {
		if i%500 == 0 {
			time.Sleep(2 * time.Millisecond) // cross millisecond boundaries
		}
		s := id.New("usr")
		if seen[s] {
			t.Fatalf("duplicate id %s", s)
		}
		seen[s] = true
		if !id.Valid("usr", s) {
			t.Fatalf("Valid(%q) = false, want true", s)
		}
		ids = append(ids, s)
	}
	// Within one millisecond the order is random; across them it is time order.
	first, last := ids[0], ids[len(ids)-1]
	if first[:14] >= last[:14] {
		t.Errorf("got %s then %s, want the later ID's time part to sort after", first, last)
	}
	if !slices.IsSorted([]string{ids[0][:14], ids[600][:14], ids[1200][:14], ids[1999][:14]}) {
		t.Error("time parts do not sort in creation order")
	}
}

func TestValid(t *testing.T) {
	t.Parallel()
	good := id.New("key")
	tests := []struct {
		prefix, s string
		want      bool
	}{
		{"key", good, true},
		{"usr", good, false},
		{"key", good[:len(good)-1], false},
		{"key", good + "0", false},
		{"key", "key_0000000000000000000000000I", false},
		{"key", "key_8ZZZZZZZZZZZZZZZZZZZZZZZZZ", false},
		{"key", "", false},
	}
	for _, tt := range tests {
		if got := id.Valid(tt.prefix, tt.s); got != tt.want {
			t.Errorf("Valid(%q, %q) = %v, want %v", tt.prefix, tt.s, got, tt.want)
		}
	}
}
