package dashboard

import (
	"fmt"
	"strings"
	"time"
)

// view is the template's data.
type view struct {
	Page
	Token    string
	LoggedIn bool
	Rows     []row
	// Notice says why the last form was refused; CanRequest whether the
	// page offers the request form.
	Notice     string
	CanRequest bool
}

// row is one device with its commands.
type row struct {
	Device
	Commands []string
}

// view builds the template's data for p.
func (s *Server) view(p Page) view {
	v := view{Page: p, Token: s.token, LoggedIn: !p.KeyExpiry.IsZero() && p.KeyExpiry.After(time.Now())}
	for _, d := range p.Devices {
		v.Rows = append(v.Rows, row{Device: d, Commands: s.commands(d)})
	}
	return v
}

// commands returns copy-ready commands for d: ssh for port 22, a forward
// for every port (to the same local port above 1024, else 10000+port).
func (s *Server) commands(d Device) []string {
	flags := ""
	if s.cfg.CLIFlags != "" {
		flags = " " + s.cfg.CLIFlags
	}
	user := s.cfg.SSHUser
	if user == "" {
		user = "USER"
	}
	var out []string
	for _, p := range d.Ports {
		if p == 22 {
			out = append(out, fmt.Sprintf("ward ssh%s %s@%s", flags, user, d.Name))
		}
		local := int(p)
		if local <= 1024 {
			local += 10000
		}
		out = append(out, fmt.Sprintf("ward forward%s %d %s:%d", flags, local, hostPart(d.Name), p))
	}
	return out
}

// hostPart brackets an IPv6 literal.
func hostPart(name string) string {
	if strings.Contains(name, ":") {
		return "[" + name + "]"
	}
	return name
}
