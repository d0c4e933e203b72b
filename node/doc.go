// Package node is the one session core of Ward's machines, a device's or a
// person's. It runs a WireGuard data plane (wireguard-go over Ward's
// userspace netstack, or over a TUN) configured from the coordinator's
// map, enforces the node's inbound filter, forwards exposed ports to local
// services, and offers outbound access to peers.
//
// # Parts
//
//   - Engine is the data plane. It is driven only by wire.MapResponse values
//     passed to Engine.Apply, so it runs (and is tested) without a
//     coordinator. It drops peers whose key expiry has passed on its own
//     timer, and keeps running with its last map while nothing new comes.
//   - Session ties an Engine to the coordinator (package node/control): it
//     follows the map stream and resumes it from the last version applied,
//     keeps that map in MapFile and starts the data plane from it (so a
//     machine restarted while the coordinator is unreachable still reaches,
//     and is reached by, its peers), and reports endpoints, exposed ports
//     and denied flows. How its WireGuard key lives is a small seam
//     (keyLife): a device's key is machine-signed and rotating (register
//     with a pre-auth key, rotate, wait for approval after a revocation;
//     deviceKeys, State); a person's is bound to the SSO session and ends
//     the Session when it expires or the coordinator moves the node to
//     another key (personKeys, PersonState, NewPersonSession).
//   - Agent is a device: a Session with a device's key life, the local API
//     (package node/localapi) and the SOCKS5 proxy (package node/socks5).
//     A person's desktop client (package client) composes a Session the
//     same way.
package node
