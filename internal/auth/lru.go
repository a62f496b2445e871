package auth

import "container/list"

// lru is a map bounded to max entries that evicts the least recently used
// one when full, never the whole map: a burst of new entries (a key
// rotation, a flood of made-up keys) costs only the entries it displaces.
// It is not safe for concurrent use; KeyCache guards it.
type lru[V any] struct {
	max   int
	order list.List // of *lruEntry[V], most recently used first
	items map[string]*list.Element
}

type lruEntry[V any] struct {
	key string
	val V
}

func newLRU[V any](max int) *lru[V] {
	return &lru[V]{max: max, items: make(map[string]*list.Element)}
}

// get returns the value for k and marks it used.
func (c *lru[V]) get(k string) (V, bool) {
	e, ok := c.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruEntry[V]).val, true
}

// put stores v under k, evicting the least recently used entry when full.
// It reports whether an entry was evicted.
func (c *lru[V]) put(k string, v V) (evicted bool) {
	if e, ok := c.items[k]; ok {
		e.Value.(*lruEntry[V]).val = v
		c.order.MoveToFront(e)
		return false
	}
	if c.order.Len() >= c.max {
		if last := c.order.Back(); last != nil {
			delete(c.items, last.Value.(*lruEntry[V]).key)
			c.order.Remove(last)
			evicted = true
		}
	}
	c.items[k] = c.order.PushFront(&lruEntry[V]{key: k, val: v})
	return evicted
}

func (c *lru[V]) remove(k string) {
	if e, ok := c.items[k]; ok {
		delete(c.items, k)
		c.order.Remove(e)
	}
}

func (c *lru[V]) len() int { return c.order.Len() }

// each calls f with a pointer to every value, so that f may change it in place.
func (c *lru[V]) each(f func(k string, v *V)) {
	for e := c.order.Front(); e != nil; e = e.Next() {
		le := e.Value.(*lruEntry[V])
		f(le.key, &le.val)
	}
}
