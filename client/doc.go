// Package client is Ward's desktop client: the daemon behind `ward up`,
// `ward login`, `ward down` and `ward status` for a person's machine.
//
// A Daemon holds the machine key (in its state directory) and, while a
// person is logged in, one session: a fresh WireGuard key whose expiry is
// the SSO session's, a data plane driven by the coordinator's map stream,
// and a timer that ends the session when the key expires, whether or not
// the coordinator is reachable. The data plane is node.Engine: wireguard-go
// over Ward's gVisor netstack (no privileges) or, with Config.TUN, over a
// real TUN device with the overlay's addresses and routes, made by
// client/tunnel and guarded by netstack's inbound filter.
//
// The daemon serves:
//
//   - the node local API (package node/localapi) on ward.sock, so `ward
//     status`, `ward ping`, `ward nc` and `ward forward` work against it as
//     against a device's agent;
//   - the client API on client.sock (see Local): start and wait for a login,
//     log out, report the login state;
//   - a SOCKS5 proxy (node/socks5) and an HTTP CONNECT proxy
//     (client/httpproxy) on loopback addresses, reaching peers by map name
//     or overlay address;
//   - a status page on 127.0.0.1 (client/dashboard).
//
// Interactive login: the daemon makes a fresh WireGuard key, asks the
// coordinator for a login (wire.PathLogin) and hands the URL to the CLI,
// which shows it to the person; the daemon long-polls wire.PathLoginWait
// and, on success, starts the session and reports the result once the
// first map has been applied, so the next command already reaches peers.
// Every login uses a new key; `ward down` expires the key at the
// coordinator (wire.PathLogout), stops the data plane and forgets the key.
package client
