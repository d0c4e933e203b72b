// Package update is the device side of updates over the air (issue 16):
// given a wire.UpdateAssignment it refreshes the fleet's TUF metadata from
// the coordinator with go-tuf's client, trusting only the root the device
// was provisioned with (InstallRoot), checks the target's signed custom
// metadata against the device (platform, model, version), downloads it
// with resume and backoff, verifies it, and installs it: an artifact by
// its install command, Ward's own agent beside the running binary with a
// restart into it and a return to the previous binary when the new one
// does not re-join the coordinator within the health window (see
// ARCHITECTURE.md, "Updates over the air"). Each step is reported
// through a Coordinator.
package update
