// Package splitdns installs a node's overlay resolver (package
// nameserver) as the system's resolver for the fleet domain while the
// node runs in TUN mode, and takes it away when it stops:
// systemd-resolved over D-Bus where it runs (the domain routed to the
// TUN link alone), else resolv.conf, backed up and put back with care
// (ResolvConf).
package splitdns

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
)

// Mode says how the resolver is installed.
type Mode string

// Modes.
const (
	// ModeAuto is systemd-resolved when it runs, else resolv.conf.
	ModeAuto Mode = "auto"
	// ModeResolved is systemd-resolved over D-Bus only.
	ModeResolved Mode = "resolved"
	// ModeResolvConf is resolv.conf only.
	ModeResolvConf Mode = "resolv.conf"
	// ModeOff installs nothing: the resolver answers whoever asks it.
	ModeOff Mode = "off"
)

// ErrUnsupported reports a mode this system cannot do.
var ErrUnsupported = errors.New("split DNS not supported here")

// Config says what to install.
type Config struct {
	// Mode is how (ModeAuto when empty).
	Mode Mode
	// Interface is the TUN link's name (systemd-resolved routes the
	// domain to it).
	Interface string
	// Server is the overlay resolver's address (port 53).
	Server netip.Addr
	// Domain is the fleet domain.
	Domain string
	// ResolvConf is the file and backup of ModeResolvConf.
	ResolvConf ResolvConf
	// Logger receives what was installed; nil discards.
	Logger *slog.Logger
}

// Install installs the resolver and returns how to take it away (call it
// once, when the node stops).
func Install(cfg Config) (undo func() error, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	mode := cfg.Mode
	if mode == "" || mode == ModeAuto {
		mode = ModeResolvConf
		if resolvedAvailable() {
			mode = ModeResolved
		}
	}
	switch mode {
	case ModeOff:
		return func() error { return nil }, nil
	case ModeResolved:
		undo, err = resolvedInstall(cfg.Interface, cfg.Server, cfg.Domain)
	case ModeResolvConf:
		undo, err = resolvConfInstall(cfg.ResolvConf, cfg.Server, cfg.Domain)
	default:
		return nil, fmt.Errorf("split DNS mode %q: want auto, resolved, resolv.conf or off", mode)
	}
	if err != nil {
		return nil, fmt.Errorf("install split DNS (%s): %w", mode, err)
	}
	cfg.Logger.Info("split DNS installed", "mode", string(mode), "domain", cfg.Domain, "server", cfg.Server)
	return undo, nil
}

// resolvConfInstall puts back what a crashed run left, then installs.
func resolvConfInstall(r ResolvConf, server netip.Addr, domain string) (func() error, error) {
	if r.Path == "" {
		r.Path = DefaultResolvConf
	}
	if err := r.Recover(); err != nil && !errors.Is(err, ErrChangedMeanwhile) {
		return nil, err
	}
	if err := r.Install(server, domain); err != nil {
		return nil, err
	}
	return r.Restore, nil
}
