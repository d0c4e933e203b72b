//go:build !linux

package node

import "golang.zx2c4.com/wireguard/conn"

// newUDPBind returns wireguard-go's default bind: Ward's own (udpBind)
// is for Linux, where UDP segmentation and GRO offload exist.
func newUDPBind(int, int) conn.Bind { return conn.NewDefaultBind() }
