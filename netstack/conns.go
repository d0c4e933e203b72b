package netstack

import (
	"io"
	"sync"
)

// connGroup owns the goroutines and connections of forwarded flows, so
// Close can end them all and wait for them.
type connGroup struct {
	wg sync.WaitGroup

	// mu guards the following.
	mu     sync.Mutex
	closed bool
	conns  map[io.Closer]struct{}
}

// start registers a goroutine about to run; it reports false once the
// group is closed, and the goroutine must not run.
func (g *connGroup) start() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

// done marks a goroutine registered by start as finished.
func (g *connGroup) done() { g.wg.Done() }

// track registers c to be closed by close. It reports false, and closes c,
// if the group is already closed.
func (g *connGroup) track(c io.Closer) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		c.Close()
		return false
	}
	if g.conns == nil {
		g.conns = make(map[io.Closer]struct{})
	}
	g.conns[c] = struct{}{}
	return true
}

// untrack closes c and forgets it.
func (g *connGroup) untrack(c io.Closer) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
	c.Close()
}

// close refuses new goroutines and closes every tracked connection.
func (g *connGroup) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for c := range g.conns {
		c.Close()
	}
	g.conns = nil
}

// wait blocks until every started goroutine is done.
func (g *connGroup) wait() { g.wg.Wait() }
