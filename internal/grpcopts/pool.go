package grpcopts

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

// Pool is the buffer pool of the transport at both ends and of the SDK's
// batch encoding. Unlike gRPC's default pool it does not zero the buffers
// it hands out again: gRPC and the SDK write every byte of a buffer before
// reading it, and zeroing each batch's megabytes cost more CPU than
// reading them.
var Pool mem.BufferPool = &dirtyPool{}

const (
	minTier = 8  // smallest pooled capacity: 256 B
	maxTier = 20 // largest power-of-two capacity: 1 MiB
	// large is the granularity of buffers above 1 MiB (batches).
	large = 1 << 20
)

// dirtyPool keeps buffers of up to 1 MiB in power-of-two tiers, and larger
// ones, rounded up to whole MiB, in one pool of their own: batches are of
// similar sizes, and rounding an 8 MiB batch up to 16 MiB would double it.
type dirtyPool struct {
	tiers [maxTier - minTier + 1]sync.Pool
	large sync.Pool
}

func (p *dirtyPool) Get(size int) *[]byte {
	if size > 1<<maxTier {
		if b, ok := p.large.Get().(*[]byte); ok {
			if cap(*b) >= size {
				*b = (*b)[:size]
				return b
			}
			p.large.Put(b)
		}
		b := make([]byte, size, (size+large-1)/large*large)
		return &b
	}
	t := max(bits.Len(uint(max(size, 1)-1)), minTier) // smallest tier that holds size
	if b, ok := p.tiers[t-minTier].Get().(*[]byte); ok {
		*b = (*b)[:size]
		return b
	}
	b := make([]byte, size, 1<<t)
	return &b
}

func (p *dirtyPool) Put(b *[]byte) {
	c := cap(*b)
	switch {
	case c > 1<<maxTier:
		p.large.Put(b)
	case c >= 1<<minTier:
		t := bits.Len(uint(c)) - 1 // largest tier that c holds
		p.tiers[t-minTier].Put(b)
	}
}
