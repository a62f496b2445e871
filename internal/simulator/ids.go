package simulator

import (
	"encoding/binary"
	"encoding/hex"
	"github.com/moat-gw/moat/internal/openai"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"
)

// lockedRand is the server's one shared random source: fault draws, jitter
// and identifiers. It is seeded by Options.Seed so that a serial test sees
// the same sequence every run.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newLockedRand(seed int64) *lockedRand {
	return &lockedRand{r: rand.New(rand.NewPCG(uint64(seed), 0x6d6f61742d73696d))}
}

// hit reports true with probability p.
func (l *lockedRand) hit(p float64) bool {
	if p <= 0 {
		return false
	}
	if p >= 1 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64() < p
}

// intN returns a number in [0, n).
func (l *lockedRand) intN(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.IntN(n)
}

// jitter spreads d uniformly by ±frac of its length.
func (l *lockedRand) jitter(d time.Duration, frac float64) time.Duration {
	if d <= 0 || frac <= 0 {
		return d
	}
	l.mu.Lock()
	u := l.r.Float64()
	l.mu.Unlock()
	return time.Duration(float64(d) * (1 + frac*(2*u-1)))
}

// uuid returns a version 4 UUID, the format of apim-request-id.
func (l *lockedRand) uuid() string {
	var b [16]byte
	l.mu.Lock()
	binary.LittleEndian.PutUint64(b[:8], l.r.Uint64())
	binary.LittleEndian.PutUint64(b[8:], l.r.Uint64())
	l.mu.Unlock()
	return openai.FormatRequestID(b)
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// id returns prefix followed by 29 letters and digits, the shape of OpenAI's
// chatcmpl- and cmpl- identifiers.
func (l *lockedRand) id(prefix string) string {
	b := make([]byte, len(prefix)+29)
	copy(b, prefix)
	l.mu.Lock()
	for i := len(prefix); i < len(b); i++ {
		b[i] = idAlphabet[l.r.IntN(len(idAlphabet))]
	}
	l.mu.Unlock()
	return string(b)
}

// hasher builds the 64-bit seeds that make generated text and vectors a pure
// function of Options.Seed, the model and the input.
type hasher struct{ h uint64 }

func newHasher(seed int64, model string) *hasher {
	h := &hasher{h: 14695981039346656037}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.bytes(b[:])
	h.str(model)
	return h
}

func (h *hasher) bytes(p []byte) {
	for _, c := range p {
		h.h ^= uint64(c)
		h.h *= 1099511628211
	}
}

// str hashes s followed by a separator, so that ("ab","c") and ("a","bc")
// differ.
func (h *hasher) str(s string) {
	for i := 0; i < len(s); i++ {
		h.h ^= uint64(s[i])
		h.h *= 1099511628211
	}
	h.bytes([]byte{0xff})
}

func (h *hasher) int(n int64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	h.bytes(b[:])
}

// rand returns a generator seeded by everything hashed so far.
func (h *hasher) rand() *rand.Rand {
	return rand.New(rand.NewPCG(h.h, h.h^0x9e3779b97f4a7c15))
}

// fingerprint is the system_fingerprint of a model: stable per model, like
// Azure's fp_ values, which change only when the backend configuration does.
func fingerprint(model string) string {
	f := fnv.New64a()
	f.Write([]byte(model))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], f.Sum64())
	return "fp_" + hex.EncodeToString(b[:5])
}

// anthropicID returns prefix followed by n letters and digits, the shape
// of Anthropic's msg_01…, toolu_01… and req_011C… identifiers.
func (l *lockedRand) anthropicID(prefix string, n int) string {
	b := make([]byte, len(prefix)+n)
	copy(b, prefix)
	l.mu.Lock()
	for i := len(prefix); i < len(b); i++ {
		b[i] = idAlphabet[l.r.IntN(len(idAlphabet))]
	}
	l.mu.Unlock()
	return string(b)
}
