package store

import (
	"fmt"
	"net/netip"
)

// checkName rejects an empty node name.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty node name", ErrInvalid)
	}
	return nil
}

// checkTags rejects an empty tag list or an empty tag: a tagged record must
// have an owner.
func checkTags(tags []string) error {
	if len(tags) == 0 {
		return fmt.Errorf("%w: no tags", ErrInvalid)
	}
	for _, t := range tags {
		if t == "" {
			return fmt.Errorf("%w: empty tag", ErrInvalid)
		}
	}
	return nil
}

// checkEndpoints rejects endpoints without a valid address.
func checkEndpoints(eps []netip.AddrPort) error {
	for _, ep := range eps {
		if !ep.IsValid() {
			return fmt.Errorf("%w: endpoint %v", ErrInvalid, ep)
		}
	}
	return nil
}

// checkPorts rejects port 0, which no service listens on.
func checkPorts(ports []uint16) error {
	for _, p := range ports {
		if p == 0 {
			return fmt.Errorf("%w: port 0", ErrInvalid)
		}
	}
	return nil
}

// checkNewNode validates what a registering node supplies.
func checkNewNode(n NewNode) error {
	switch {
	case n.MachineKey.IsZero():
		return fmt.Errorf("%w: zero machine key", ErrInvalid)
	case n.WGKey.IsZero():
		return fmt.Errorf("%w: zero wireguard key", ErrInvalid)
	}
	if err := checkName(n.Name); err != nil {
		return err
	}
	if err := checkPorts(n.ExposedPorts); err != nil {
		return err
	}
	return checkEndpoints(n.Endpoints)
}

// checkOwner requires exactly one of a user and tags.
func checkOwner(user UserID, tags []string) error {
	switch {
	case user != 0 && len(tags) > 0:
		return fmt.Errorf("%w: both a user and tags", ErrInvalid)
	case user == 0:
		return checkTags(tags)
	}
	return nil
}
