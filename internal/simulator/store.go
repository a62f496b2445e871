package simulator

import (
	"slices"
	"sync"
)

// idStore keeps a kind of stored object (responses, files, batches) by ID
// in memory, the oldest dropped past a cap. Its lock also guards the
// fields that background jobs change (a response's or batch's object):
// read and change them through locked.
type idStore[T any] struct {
	mu    sync.Mutex
	byID  map[string]*T
	order []string // IDs, oldest first
}

// put adds v under id, or replaces what id held (keeping its age), then
// drops the oldest beyond max.
func (st *idStore[T]) put(id string, v *T, max int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.byID == nil {
		st.byID = map[string]*T{}
	}
	if _, ok := st.byID[id]; !ok {
		st.order = append(st.order, id)
	}
	st.byID[id] = v
	for len(st.order) > max {
		delete(st.byID, st.order[0])
		st.order = st.order[1:]
	}
}

func (st *idStore[T]) get(id string) (*T, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	v, ok := st.byID[id]
	return v, ok
}

// remove drops id and returns what it held.
func (st *idStore[T]) remove(id string) (*T, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	v, ok := st.byID[id]
	if !ok {
		return nil, false
	}
	delete(st.byID, id)
	st.order = slices.DeleteFunc(st.order, func(o string) bool { return o == id })
	return v, true
}

// locked runs f under the store's lock.
func (st *idStore[T]) locked(f func()) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f()
}

// newestFirst returns view of every object held, newest first, read under
// the lock.
func newestFirst[T, O any](st *idStore[T], view func(*T) O) []O {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]O, 0, len(st.order))
	for _, id := range slices.Backward(st.order) {
		out = append(out, view(st.byID[id]))
	}
	return out
}
