package grpcopts

import "testing"

func TestPoolSizesAndReuse(t *testing.T) {
	p := &dirtyPool{}
	for _, tc := range []struct{ size, capacity int }{
		{0, 256}, {1, 256}, {256, 256}, {257, 512}, {16 << 10, 16 << 10}, {1 << 20, 1 << 20},
		{1<<20 + 1, 2 << 20}, {8<<20 + 3000, 9 << 20},
	} {
		b := p.Get(tc.size)
		if len(*b) != tc.size || cap(*b) != tc.capacity {
			t.Errorf("Get(%d): len %d cap %d, want cap %d", tc.size, len(*b), cap(*b), tc.capacity)
		}
	}
	b := p.Get(5000)
	(*b)[0] = 'x'
	p.Put(b)
	// sync.Pool may drop what it holds, so reuse is checked loosely: what
	// comes back is a buffer of the tier, not zeroed.
	again := p.Get(4097)
	if cap(*again) != 8192 || len(*again) != 4097 {
		t.Errorf("Get(4097) after Put: len %d cap %d", len(*again), cap(*again))
	}
	big := p.Get(9 << 20)
	p.Put(big)
	if got := p.Get(3 << 20); cap(*got) < 3<<20 {
		t.Errorf("a large buffer of cap %d for 3 MiB", cap(*got))
	}
	small := make([]byte, 10)
	p.Put(&small) // too small for any tier: dropped, not kept
}
