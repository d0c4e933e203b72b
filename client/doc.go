// Package client is Ward's desktop client: the daemon behind `ward up`,
// `ward login`, `ward down` and `ward status` for a person's machine. It
// holds only what is a person's, composed on the node session core:
//
//   - interactive login: the daemon makes a fresh WireGuard key, asks the
//     coordinator for a login (control.Client.Login) and hands the URL and
//     the code to the CLI, which shows them to the person; it long-polls
//     the outcome (control.Client.WaitLogin) and, on success, starts a
//     node.Session over the login's key (node.NewPersonSession) and reports
//     once the first map has been applied, so the next command already
//     reaches peers. Every login uses a new key; `ward down` expires the
//     key at the coordinator (control.Client.Logout), stops the data plane
//     and forgets the key.
//   - the data plane's mode: node.Engine over Ward's gVisor netstack (no
//     privileges) or, with Config.TUN, over a real TUN device with the
//     overlay's addresses and routes, made by client/tunnel and guarded by
//     netstack's inbound filter;
//   - a SOCKS5 proxy (node/socks5) and an HTTP proxy (CONNECT and plain http://)
//     (client/httpproxy) on loopback addresses, reaching peers by map name
//     or overlay address;
//   - a status page on 127.0.0.1 (client/dashboard).
//
// The node session does the rest, as for a device: it follows and resumes
// the map stream, keeps the map for restarts, reports endpoints and denied
// flows, and ends when the key expires, whether or not the coordinator is
// reachable, or when the coordinator moves the node to another key.
//
// The daemon serves the one local API (package node/localapi) on
// ward.sock, with the login routes (it implements localapi.Logins), so
// `ward status`, `ward ping`, `ward nc` and `ward forward` work against it
// as against a device's agent.
package client
