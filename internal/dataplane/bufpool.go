package dataplane

import "sync"

// copyBufSize is the size of ReverseProxy's copy buffers.
const copyBufSize = 32 << 10

// bufferPool recycles ReverseProxy copy buffers. It holds them as array
// pointers: a slice converts to one and back without allocating, where
// pooling a *[]byte would allocate the slice header on every Put.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([copyBufSize]byte) }}}
}

func (b *bufferPool) Get() []byte { return b.p.Get().(*[copyBufSize]byte)[:] }

// Put takes back only buffers of the pool's size.
func (b *bufferPool) Put(v []byte) {
	if cap(v) == copyBufSize {
		b.p.Put((*[copyBufSize]byte)(v[:copyBufSize]))
	}
}
