package dataplane

import "testing"

// TestBufferPool: buffers come back whole and a round trip allocates
// nothing once the pool holds one; a buffer of another size is not taken.
func TestBufferPool(t *testing.T) {
	p := newBufferPool()
	if got := len(p.Get()); got != copyBufSize {
		t.Fatalf("len %d, want %d", got, copyBufSize)
	}
	p.Put(make([]byte, 10))
	if got := len(p.Get()); got != copyBufSize {
		t.Fatalf("after a foreign Put: len %d, want %d", got, copyBufSize)
	}
	p.Put(p.Get())
	if n := testing.AllocsPerRun(100, func() { p.Put(p.Get()) }); n != 0 {
		t.Fatalf("%v allocations per Get and Put, want 0", n)
	}
}
