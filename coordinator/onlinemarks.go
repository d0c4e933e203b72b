package coordinator

import (
	"sync"

	"github.com/wardnet/ward/coordinator/store"
)

// onlineStripes is how many locks onlineMarks spreads the nodes over.
const onlineStripes = 64

// onlineMarks serializes each node's online and offline marks: the
// check whether it has a stream here and the mark that follows from it
// run under one lock per node (striped), and a mark is made only when it
// changes, so that a stream opening while another closes can never leave
// a node with a stream marked offline, nor one without marked online.
type onlineMarks struct {
	// stripes[id%onlineStripes] is held over node id's check and mark.
	stripes [onlineStripes]sync.Mutex

	mu sync.Mutex // mu guards online
	// online holds the nodes marked online here.
	online map[store.NodeID]bool
}

func newOnlineMarks() *onlineMarks {
	return &onlineMarks{online: map[store.NodeID]bool{}}
}

// lock takes node id's lock and returns its unlock.
func (o *onlineMarks) lock(id store.NodeID) (unlock func()) {
	m := &o.stripes[uint64(id)%onlineStripes]
	m.Lock()
	return m.Unlock
}

// flip marks node id online or offline (on) and reports whether that
// changed its mark. The caller holds id's lock.
func (o *onlineMarks) flip(id store.NodeID, on bool) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.online[id] == on {
		return false
	}
	if on {
		o.online[id] = true
	} else {
		delete(o.online, id)
	}
	return true
}

// ids returns the nodes marked online here.
func (o *onlineMarks) ids() []store.NodeID {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]store.NodeID, 0, len(o.online))
	for id := range o.online {
		out = append(out, id)
	}
	return out
}
