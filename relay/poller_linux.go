package relay

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
)

// poller watches parked connections with one epoll instance and one
// goroutine, so that an idle connection has no goroutine (nor a stack) of
// its own. A connection is armed once per park (EPOLLONESHOT): a readable
// one (bytes, its end, an error) wakes exactly once and is handed to a
// new goroutine.
type poller struct {
	// epfd is the epoll instance; wakeR and wakeW a pipe whose reading end
	// it also watches, written by close.
	epfd, wakeR, wakeW int

	mu sync.Mutex // mu guards the following and orders epoll changes
	// conns are the connections armed or once armed, by descriptor.
	conns map[int32]*conn
	// closed is set by close: nothing is armed after it.
	closed bool
}

// errPollerClosed refuses to park a connection after the server closed.
var errPollerClosed = errors.New("relay: poller closed")

// newPoller starts a poller handing each connection that becomes readable
// to wake.
func newPoller(wake func(*conn)) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("create epoll: %w", err)
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("create pipe: %w", err)
	}
	p := &poller{epfd: epfd, wakeR: pipe[0], wakeW: pipe[1], conns: map[int32]*conn{}}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.wakeR)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wakeR, &ev); err != nil {
		p.release()
		return nil, fmt.Errorf("watch pipe: %w", err)
	}
	go p.run(wake)
	return p, nil
}

// run hands connections to wake until close.
func (p *poller) run(wake func(*conn)) {
	defer p.release()
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(p.wakeR) {
				return
			}
			p.mu.Lock()
			c := p.conns[ev.Fd]
			p.mu.Unlock()
			if c != nil {
				wake(c)
			}
		}
	}
}

// release closes the poller's descriptors once run ends.
func (p *poller) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	syscall.Close(p.epfd)
	syscall.Close(p.wakeR)
	syscall.Close(p.wakeW)
}

// close ends run.
func (p *poller) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		syscall.Write(p.wakeW, []byte{0})
	}
}

// arm watches c until it becomes readable once; c.mu held.
func (p *poller) arm(c *conn) error {
	if p == nil || c.raw == nil {
		return errPollerClosed
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errPollerClosed
	}
	var err error
	cerr := c.raw.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
		op := syscall.EPOLL_CTL_MOD
		if c.fd < 0 {
			op = syscall.EPOLL_CTL_ADD
		}
		if err = syscall.EpollCtl(p.epfd, op, int(fd), &ev); err == nil {
			c.fd = int(fd)
			p.conns[int32(fd)] = c
		}
	})
	if err = errors.Join(cerr, err); err != nil {
		return fmt.Errorf("watch %s: %w", c.key.ShortString(), err)
	}
	return nil
}

// forget stops watching c, before its descriptor closes; c.mu held.
func (p *poller) forget(c *conn) {
	if p == nil || c.fd < 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[int32(c.fd)] == c {
		delete(p.conns, int32(c.fd))
	}
	if !p.closed && c.raw != nil { // nil once arming failed (server.go park)
		c.raw.Control(func(fd uintptr) { syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil) })
	}
	c.fd = -1
}
