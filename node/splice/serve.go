package splice

import (
	"context"
	"fmt"
	"net"
	"sync"
)

// Serve accepts connections on l and runs handle for each in its own
// goroutine, until ctx is done or l fails. It then closes l and returns
// once every handle call has returned (handle must return when its ctx is
// done). It returns nil when ctx ended it; what names the listener in
// errors ("socks5 client").
func Serve(ctx context.Context, l net.Listener, what string, handle func(context.Context, net.Conn)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	defer l.Close()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept %s: %w", what, err)
		}
		wg.Go(func() { handle(ctx, c) })
	}
}
