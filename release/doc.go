// Package release is the fleet's TUF repository as the admin keeps it
// offline (issue 16): the four top-level roles' keys (Keygen), key
// rotation (Rotate), signing a target with its custom metadata (Sign) and
// reading the signed repository back for publishing (Load). The device
// verifies what it signs with go-tuf's client (node/update); both read the
// target's custom metadata through Custom.
package release
