// Package node is Ward's node agent. It runs a WireGuard data plane
// (wireguard-go over Ward's userspace netstack) configured from the
// coordinator's map, enforces the node's inbound filter, forwards exposed
// ports to local services, and offers outbound access to peers through a
// SOCKS5 proxy and a local API on a unix socket.
//
// # Parts
//
//   - Engine is the data plane. It is driven only by wire.MapResponse values
//     passed to Engine.Apply, so it runs (and is tested) without a
//     coordinator. It drops peers whose key expiry has passed on its own
//     timer, and keeps running with its last map while nothing new comes.
//   - Agent ties an Engine to the coordinator (package node/control): it
//     registers once, persists its keys in a State file, follows the map
//     stream, rotates the WireGuard key, and reports endpoints, exposed
//     ports and denied flows. It keeps the last map applied in MapFile and
//     starts the data plane from it, so a node restarted while the
//     coordinator is unreachable still reaches, and is reached by, its
//     peers.
//   - The local API (package node/localapi) and the SOCKS5 server (package
//     node/socks5) are served by the Agent on top of the Engine.
package node
