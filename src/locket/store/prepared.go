package store

import (
	"context"
	"database/sql"
	"slices"
	"sync"
)

// preparedStmts holds the renewal path's statements prepared on MySQL:
// they run thousands of times a second, and a prepared statement's execution
// is one round trip in the binary protocol, which spares the server parsing
// the text and the driver interpolating it. The other
// statements stay interpolated text, so that a foundation's shared MySQL
// does not hold dozens of prepared statements per connection of every
// server. (pgx prepares and caches every statement itself.)
type preparedStmts struct {
	queries []string // the statements to prepare

	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// stmt returns q prepared on db, or nil when q is not one to prepare.
// database/sql prepares it again on each connection the first time it runs
// there, and after reconnects.
func (p *preparedStmts) stmt(ctx context.Context, db *sql.DB, q string) (*sql.Stmt, error) {
	if !slices.Contains(p.queries, q) {
		return nil, nil
	}
	p.mu.Lock()
	st, ok := p.stmts[q]
	p.mu.Unlock()
	if ok {
		return st, nil
	}
	// Prepared outside the lock: with the database away, callers must not
	// queue behind one another's connect timeouts.
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if prev, ok := p.stmts[q]; ok {
		st.Close() // another caller prepared it meanwhile
		return prev, nil
	}
	if p.stmts == nil {
		p.stmts = map[string]*sql.Stmt{}
	}
	p.stmts[q] = st
	return st, nil
}

func (p *preparedStmts) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range p.stmts {
		st.Close()
	}
	p.stmts = nil
}
