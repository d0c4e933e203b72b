package netstack

import (
	"maps"
	"sync"
	"sync/atomic"
)

// serviceSet is an immutable snapshot of the ports this node serves.
type serviceSet struct {
	// exposed are forwarded to 127.0.0.1.
	exposed map[Service]struct{}
	// listening counts the open Stack listeners on each port.
	listening map[Service]int
}

// services tracks the served ports: exposed ones and ones with a listener.
// The packet path reads the snapshot without locking.
type services struct {
	cur atomic.Pointer[serviceSet]
	// mu serializes writers.
	mu sync.Mutex
}

func (s *services) init(exposed []Service) {
	set := &serviceSet{exposed: make(map[Service]struct{}), listening: make(map[Service]int)}
	for _, svc := range exposed {
		set.exposed[svc] = struct{}{}
	}
	s.cur.Store(set)
}

// serves reports whether a new flow to port would reach anything.
func (s *services) serves(proto uint8, port uint16) bool {
	set := s.cur.Load()
	svc := Service{Proto: proto, Port: port}
	if _, ok := set.exposed[svc]; ok {
		return true
	}
	return set.listening[svc] > 0
}

// isExposed reports whether svc is forwarded to 127.0.0.1.
func (s *services) isExposed(svc Service) bool {
	_, ok := s.cur.Load().exposed[svc]
	return ok
}

// update copies the snapshot, applies fn to the copy and installs it.
func (s *services) update(fn func(*serviceSet)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	next := &serviceSet{exposed: maps.Clone(old.exposed), listening: maps.Clone(old.listening)}
	fn(next)
	s.cur.Store(next)
}

func (s *services) expose(svc Service) {
	s.update(func(set *serviceSet) { set.exposed[svc] = struct{}{} })
}

func (s *services) unexpose(svc Service) {
	s.update(func(set *serviceSet) { delete(set.exposed, svc) })
}

// listen records a new listener on svc.
func (s *services) listen(svc Service) {
	s.update(func(set *serviceSet) { set.listening[svc]++ })
}

// unlisten records that a listener on svc closed.
func (s *services) unlisten(svc Service) {
	s.update(func(set *serviceSet) {
		if set.listening[svc]--; set.listening[svc] <= 0 {
			delete(set.listening, svc)
		}
	})
}

// list returns the exposed services.
func (s *services) list() []Service {
	set := s.cur.Load()
	out := make([]Service, 0, len(set.exposed))
	for svc := range set.exposed {
		out = append(out, svc)
	}
	return out
}
