package store

import "sync"

// maxHolderHints bounds the hints: more keys than a foundation has cells and
// locks. Past it the hints start over (each key then costs one extra round
// trip on its next renewal).
const maxHolderHints = 1 << 17

// holderHints remembers, per key, the owner whose Lock last succeeded
// through this store and the fencing token of that holding. A hint only
// chooses which statement Lock tries first (the renewal UPDATE, or the read
// that tells a collision without taking a row lock); every answer still
// comes from the database, so a stale hint costs one round trip and never a
// wrong answer. That is why other servers on the same database need not
// know about it.
type holderHints struct {
	mu     sync.Mutex
	owners map[string]holding // key -> the holding last seen
}

type holding struct {
	owner string
	token int64
}

// holds returns the token of owner's holding of key, if the hint says owner
// holds it.
func (h *holderHints) holds(key, owner string) (token int64, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o, ok := h.owners[key]
	if !ok || o.owner != owner {
		return 0, false
	}
	return o.token, true
}

func (h *holderHints) set(key, owner string, token int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.owners == nil || len(h.owners) >= maxHolderHints {
		h.owners = make(map[string]holding)
	}
	h.owners[key] = holding{owner: owner, token: token}
}

// forget drops the hint for key; owner "" drops whatever it says.
func (h *holderHints) forget(key, owner string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if o, ok := h.owners[key]; ok && (owner == "" || o.owner == owner) {
		delete(h.owners, key)
	}
}
