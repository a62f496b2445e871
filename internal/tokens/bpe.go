package tokens

import "math"

// noRank marks a part boundary that cannot merge with its successor.
const noRank = math.MaxUint32

// heapFrom is the piece length from which merging switches from scanning
// for the best pair (O(n²), fastest on the short pieces nearly all text
// is made of) to a heap (O(n log n)). A piece is one run of letters, digits
// or white space, and one can be as long as the text: a 1 MiB run of
// letters is one piece, so the quadratic scan must never see long ones.
// Both orders merge the lowest rank first and, among equal ranks, the
// leftmost pair, which is how tiktoken merges, so they give the same
// tokens.
const heapFrom = 64

// maxPiece is the longest piece merged exactly. A longer piece counts as
// its length in bytes, an upper bound (see upperBound), so that merging
// costs a bounded amount per byte whatever the input. A piece can be the
// whole text (a 1 MiB run of letters or spaces is one piece), and merging
// costs more per byte the longer the piece (the heap's log n, and parts
// that outgrow the caches): measured per KiB of text, 250-byte pieces cost
// about as much as made-up words do, 2,000-byte pieces three times more.
// Natural text has almost no piece this long (a word, a number, an
// indentation); longer ones are padding, runs of CJK without punctuation,
// or an attack, and over-reserving them is safe because a reservation
// settles to the upstream's real usage.
const maxPiece = 256

// merger holds the scratch space of one count, reused across pieces so
// that merging does not allocate once it has grown to the longest piece.
type merger struct {
	ranks *rankTable
	// scan state: part start offsets and the rank of merging part i with
	// part i+1.
	starts []int
	pairs  []uint32
	// heap state
	nodes []mergeNode
	heap  mergeHeap
}

// count returns the number of tokens BPE turns piece into.
func (m *merger) count(piece string) int {
	if m.ranks.rank(piece) != noRank {
		return 1
	}
	if len(piece) < heapFrom {
		return m.scan(piece)
	}
	if len(piece) > maxPiece {
		return len(piece)
	}
	return m.heapMerge(piece)
}

func (m *merger) rank(s string) uint32 {
	return m.ranks.rank(s)
}

// scan merges by repeatedly finding the lowest-ranked adjacent pair.
func (m *merger) scan(piece string) int {
	n := len(piece)
	m.starts = m.starts[:0]
	for i := 0; i <= n; i++ {
		m.starts = append(m.starts, i)
	}
	m.pairs = m.pairs[:0]
	for i := 0; i+1 < n; i++ {
		m.pairs = append(m.pairs, m.rank(piece[i:i+2]))
	}
	m.pairs = append(m.pairs, noRank) // the last part has no successor
	starts, pairs := m.starts, m.pairs
	// pairRank is the rank of merging part i with part i+1 once part i+1
	// has absorbed part i+2, i.e. of starts[i]..starts[i+3].
	pairRank := func(i int) uint32 {
		if i+3 < len(starts) {
			return m.rank(piece[starts[i]:starts[i+3]])
		}
		return noRank
	}
	for len(starts) > 2 {
		best, at := uint32(noRank), -1
		for i, r := range pairs[:len(starts)-2] {
			if r < best {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		pairs[at] = pairRank(at)
		if at > 0 {
			pairs[at-1] = pairRank(at - 1)
		}
		starts = append(starts[:at+1], starts[at+2:]...)
		pairs = append(pairs[:at+1], pairs[at+2:]...)
	}
	return len(starts) - 1
}

// mergeNode is a part boundary in heapMerge's linked list; rank is the
// rank of merging this part with the next one.
type mergeNode struct {
	prev, next int32
	rank       uint32
}

// heapMerge gives scan's result in O(n log n): candidates sit in a
// min-heap by (rank, offset) and stale entries are skipped when popped.
func (m *merger) heapMerge(piece string) int {
	n := int32(len(piece))
	if cap(m.nodes) < int(n)+1 {
		m.nodes = make([]mergeNode, n+1)
	}
	nodes := m.nodes[:n+1]
	for i := range nodes {
		nodes[i] = mergeNode{prev: int32(i) - 1, next: int32(i) + 1, rank: noRank}
	}
	nodes[n].next = -1
	rankOf := func(i int32) uint32 {
		j := nodes[i].next
		if j < 0 {
			return noRank
		}
		k := nodes[j].next
		if k < 0 {
			return noRank
		}
		return m.rank(piece[i:k])
	}
	h := m.heap[:0]
	for i := int32(0); i+2 <= n; i++ {
		if r := rankOf(i); r != noRank {
			nodes[i].rank = r
			h = append(h, mergeCandidate{r, i})
		}
	}
	h.init()
	parts := int(n)
	for len(h) > 0 {
		top := h.pop()
		i := top.offset
		if nodes[i].rank != top.rank {
			continue // stale: the pair changed since it was pushed
		}
		j := nodes[i].next
		k := nodes[j].next
		nodes[j].rank = noRank
		nodes[i].next = k
		if k >= 0 {
			nodes[k].prev = i
		}
		parts--
		for _, b := range [2]int32{i, nodes[i].prev} {
			if b < 0 {
				continue
			}
			nodes[b].rank = rankOf(b)
			if nodes[b].rank != noRank {
				h.push(mergeCandidate{nodes[b].rank, b})
			}
		}
	}
	m.heap = h
	return parts
}

type mergeCandidate struct {
	rank   uint32
	offset int32
}

// mergeHeap is a binary min-heap ordered by rank, then offset, so that
// among equal ranks the leftmost pair merges first. Typed, unlike
// container/heap, so that pushes do not allocate.
type mergeHeap []mergeCandidate

func (h mergeHeap) less(a, b int) bool {
	if h[a].rank != h[b].rank {
		return h[a].rank < h[b].rank
	}
	return h[a].offset < h[b].offset
}

func (h mergeHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *mergeHeap) push(c mergeCandidate) {
	*h = append(*h, c)
	h.up(len(*h) - 1)
}

func (h *mergeHeap) pop() mergeCandidate {
	old := *h
	top := old[0]
	last := len(old) - 1
	old[0] = old[last]
	*h = old[:last]
	h.down(0)
	return top
}

func (h mergeHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			return
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
}

func (h mergeHeap) down(i int) {
	for {
		child := 2*i + 1
		if child >= len(h) {
			return
		}
		if right := child + 1; right < len(h) && h.less(right, child) {
			child = right
		}
		if !h.less(child, i) {
			return
		}
		h[i], h[child] = h[child], h[i]
		i = child
	}
}
