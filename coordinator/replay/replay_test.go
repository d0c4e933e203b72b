package replay

import "testing"

func TestWindow(t *testing.T) {
	w := New[int](3)
	steps := []struct {
		add     int
		want    bool
		wantLen int
	}{
		{1, true, 1}, {1, false, 1}, {2, true, 2}, {3, true, 3},
		{2, false, 3}, // still in the window
		{4, true, 3},  // forgets 1, the oldest
		{1, true, 3},  // so 1 is new again; forgets 2
		{3, false, 3}, {2, true, 3},
	}
	for i, s := range steps {
		if got := w.Add(s.add); got != s.want || w.Len() != s.wantLen {
			t.Fatalf("step %d: Add(%d) = %v with %d held, want %v with %d", i, s.add, got, w.Len(), s.want, s.wantLen)
		}
	}
}

func TestWindowIsBounded(t *testing.T) {
	w := New[int](100)
	for i := range 100000 {
		if !w.Add(i) {
			t.Fatalf("new value %d refused", i)
		}
	}
	if w.Len() != 100 {
		t.Fatalf("window holds %d values, want 100", w.Len())
	}
}
