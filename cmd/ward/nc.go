package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/node/splice"
)

func newNcCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "nc PEER PORT",
		Short: "Connect stdin and stdout to a TCP port on a peer through the overlay",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			port, err := parsePort(args[1])
			if err != nil {
				return err
			}
			c, err := apiClient(dir).Dial(cmd.Context(), args[0], port)
			if err != nil {
				return notRunning(dir, err)
			}
			defer c.Close()
			return pipeStdio(c, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	addStateDirFlag(cmd, &dir)
	return cmd
}

// pipeStdio copies in to c (then half-closes c) and c to out, and returns
// when c has nothing more to say.
func pipeStdio(c net.Conn, in io.Reader, out io.Writer) error {
	go func() {
		io.Copy(c, in)
		if hc, ok := c.(interface{ CloseWrite() error }); ok {
			hc.CloseWrite()
		}
	}()
	if _, err := io.Copy(out, c); err != nil {
		return fmt.Errorf("read from peer: %w", err)
	}
	return nil
}

func parsePort(s string) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return uint16(p), nil
}

func newForwardCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "forward LOCALPORT PEER:PORT",
		Short: "Forward connections to 127.0.0.1:LOCALPORT to a port on a peer through the overlay",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			lport, err := parsePort(args[0])
			if err != nil {
				return err
			}
			peer, ps, err := net.SplitHostPort(args[1])
			if err != nil || peer == "" {
				return errPeerPort
			}
			port, err := parsePort(ps)
			if err != nil {
				return err
			}
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(lport))))
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "forwarding %s to %s:%d\n", l.Addr(), peer, port)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return forward(ctx, l, apiClient(dir), peer, port, slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)))
		},
	}
	addStateDirFlag(cmd, &dir)
	return cmd
}

// forward relays each connection accepted on l to peer:port through the
// agent, until ctx is done; then it closes l and every connection and
// waits for them.
func forward(ctx context.Context, l net.Listener, api *localapi.Client, peer string, port uint16, log *slog.Logger) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			t, err := api.Dial(ctx, peer, port)
			if err != nil {
				log.Warn("forward", "peer", peer, "port", port, "err", err)
				return
			}
			defer t.Close()
			done := context.AfterFunc(ctx, func() { c.Close(); t.Close() })
			defer done()
			if err := splice.Join(ctx, c, t, splice.Limits{}); err != nil {
				log.Info("forward cut", "peer", peer, "port", port, "reason", err)
			}
		}()
	}
}
