package web

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/wire"
)

// recentEvents is how many audit events a device page shows.
const recentEvents = 20

// deviceRow is a node with the labels the Devices page shows.
type deviceRow struct {
	wire.AdminNode
	Owner       string
	Expiry      string
	ExpiryClass string // "bad", "warn" (keySoon) or ""
	// ExpiryNote says why ExpiryClass is "warn"; empty otherwise.
	ExpiryNote string
	Seen       string
}

func rowOf(n wire.AdminNode, now time.Time) deviceRow {
	r := deviceRow{AdminNode: n, Owner: n.User, Expiry: "never", Seen: ago(n.LastSeen, now)}
	if len(n.Tags) > 0 {
		r.Owner = strings.Join(n.Tags, ", ")
	}
	if n.Online {
		r.Seen = "online now"
	}
	switch exp := n.KeyExpiry; {
	case n.KeyRevoked:
		r.Expiry, r.ExpiryClass = "revoked: needs approval", "bad"
	case nodeKeyExpired(n, now):
		r.Expiry, r.ExpiryClass = "expired", "bad"
	case !exp.IsZero():
		r.Expiry = "in " + until(exp.Sub(now))
		if keySoon(n, now) {
			r.ExpiryClass = "warn"
			r.ExpiryNote = fmt.Sprintf("less than a quarter of the key's %s life left", until(n.KeyLifetime()))
		}
	}
	return r
}

// ago describes how long before now t was.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return until(now.Sub(t)) + " ago"
}

// until describes a duration coarsely: "5m", "3h", "2d".
func until(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "<1m"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// devicesPageSize is how many devices the Devices page shows at a time.
const devicesPageSize = 200

// pageDevices shows one page of the fleet (devicesPageSize devices after
// the cursor wire.NodePageAfterParam, narrowed by the filter), with links
// to the next page and back to the first. Its filter's choices come from
// the devices shown (and the values chosen), not from the whole fleet,
// whose reading would cost the fleet's size at every view.
func (s *server) pageDevices(c echo.Context) error {
	now := s.cfg.now()
	q := c.QueryParams()
	f, err := parseNodeFilter(q, now)
	if err != nil {
		return err
	}
	pq := url.Values{wire.NodePageAfterParam: q[wire.NodePageAfterParam]}
	if len(pq[wire.NodePageAfterParam]) == 0 {
		delete(pq, wire.NodePageAfterParam)
	}
	_, after, _, err := parseNodePage(pq)
	if err != nil {
		return err
	}
	page, err := s.b.NodePage(c.Request().Context(), after, devicesPageSize, f.matcher())
	if err != nil {
		return err
	}
	var rows []deviceRow
	for _, n := range page.Nodes {
		rows = append(rows, rowOf(n, now))
	}
	link := func(cursor string) string {
		v := url.Values{}
		for k, vs := range q {
			if k != wire.NodePageAfterParam && len(vs) > 0 && vs[0] != "" {
				v.Set(k, vs[0])
			}
		}
		if cursor != "" {
			v.Set(wire.NodePageAfterParam, cursor)
		}
		if len(v) == 0 {
			return "/ui/devices"
		}
		return "/ui/devices?" + v.Encode()
	}
	var next, first string
	if page.Next != "" {
		next = link(page.Next)
	}
	if after > 0 {
		first = link("")
	}
	v := s.newView(c, "Devices", "devices")
	v.Data = struct {
		Rows        []deviceRow
		Total       int
		Filter      nodeFilter
		Choices     filterChoices
		Next, First string
	}{rows, page.Total, f, choicesOf(page.Nodes).with(f), next, first}
	return s.render(c, http.StatusOK, "devices.html", v)
}

// devicePage is the data of a device's page.
type devicePage struct {
	Row    deviceRow
	Access []accessRow
	Events []wire.AuditEvent
	// Paths is the node's latest path report; nil when it sent none.
	Paths *pathsView
	// TagsInput is the tags field's value: the device's tags, or what the
	// admin typed when the backend refused it (then TagsError says why).
	TagsInput, TagsError string
	// RiskInput and RiskError are the risk class field's value and the
	// backend's refusal, as for tags.
	RiskInput, RiskError string
	// NameInput and NameError are the rename field's value and the
	// backend's refusal, as for tags.
	NameInput, NameError string
	// Routes are the subnet routes the device advertises or has approved.
	Routes []wire.RouteState
}

// deviceView builds the page of the device ref.
func (s *server) deviceView(c echo.Context, ref string) (view, *devicePage, error) {
	ctx := c.Request().Context()
	n, err := s.b.Node(ctx, ref)
	if err != nil {
		return view{}, nil, err
	}
	access, err := s.b.NodeAccess(ctx, n.Name)
	if err != nil {
		return view{}, nil, err
	}
	evs, err := s.b.Audit(ctx, admin.AuditQuery{Target: "node:" + n.Name, Limit: recentEvents, NewestFirst: true})
	if err != nil {
		return view{}, nil, err
	}
	now := s.cfg.now()
	p := &devicePage{Row: rowOf(n, now), Access: accessRows(access, n.Name), Events: evs, Paths: pathsOf(n.Paths, now),
		TagsInput: strings.Join(n.Tags, ", "), RiskInput: n.RiskClassSet, NameInput: n.Name,
		Routes: n.RouteStates()}
	v := s.newView(c, n.Name, "devices")
	v.Data = p
	return v, p, nil
}

func (s *server) pageDevice(c echo.Context) error {
	v, _, err := s.deviceView(c, c.Param("id"))
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "device.html", v)
}

func devicePath(ref string) string { return "/ui/devices/" + url.PathEscape(ref) }

// actTagDevice sets a device's tags. Tags the backend refuses (a tag
// without a tagOwners entry) show the device page again with the error
// and the admin's input, not an error page.
func (s *server) actTagDevice(c echo.Context) error {
	input := c.FormValue("tags")
	n, err := s.b.SetNodeTags(c.Request().Context(), c.Param("id"), splitList(input), principalOf(c))
	if refusedInput(err) {
		v, p, verr := s.deviceView(c, c.Param("id"))
		if verr != nil {
			return verr
		}
		p.TagsInput, p.TagsError = input, publicMessage(err, http.StatusBadRequest)
		return s.render(c, http.StatusBadRequest, "device.html", v)
	}
	if err != nil {
		return err
	}
	return done(c, devicePath(n.Name), "tags")
}

// actClassifyDevice sets a device's risk class; a class the policy does
// not define shows the device page again with the error, as for tags.
func (s *server) actClassifyDevice(c echo.Context) error {
	input := strings.TrimSpace(c.FormValue("risk"))
	n, err := s.b.SetNodeRiskClass(c.Request().Context(), c.Param("id"), input, principalOf(c))
	if refusedInput(err) {
		v, p, verr := s.deviceView(c, c.Param("id"))
		if verr != nil {
			return verr
		}
		p.RiskInput, p.RiskError = input, publicMessage(err, http.StatusBadRequest)
		return s.render(c, http.StatusBadRequest, "device.html", v)
	}
	if err != nil {
		return err
	}
	return done(c, devicePath(n.Name), "classified")
}

// actRenameDevice gives a device a new DNS name; a name the backend
// refuses (not a DNS label, or another device's) shows the device page
// again with the error, as for tags.
func (s *server) actRenameDevice(c echo.Context) error {
	input := strings.TrimSpace(c.FormValue("name"))
	n, err := s.b.RenameNode(c.Request().Context(), c.Param("id"), input, principalOf(c))
	if refusedInput(err) || err != nil && StatusOf(err) == http.StatusConflict {
		v, p, verr := s.deviceView(c, c.Param("id"))
		if verr != nil {
			return verr
		}
		p.NameInput, p.NameError = input, publicMessage(err, StatusOf(err))
		return s.render(c, StatusOf(err), "device.html", v)
	}
	if err != nil {
		return err
	}
	return done(c, devicePath(n.Name), "renamed")
}

// actDeviceRoute approves (action "approve") or rejects (any other) the
// device's route named by the form's "route".
func (s *server) actDeviceRoute(c echo.Context) error {
	p, err := netip.ParsePrefix(c.FormValue("route"))
	if err != nil {
		return fmt.Errorf("%w: route: %v", ErrBadRequest, err)
	}
	req := wire.RoutesRequest{Reject: []netip.Prefix{p}}
	if c.FormValue("action") == "approve" {
		req = wire.RoutesRequest{Approve: []netip.Prefix{p}}
	}
	n, err := s.b.SetNodeRoutes(c.Request().Context(), c.Param("id"), req, principalOf(c))
	if err != nil {
		return err
	}
	return done(c, devicePath(n.Name), "routes")
}

func (s *server) actExpireDevice(c echo.Context) error {
	n, err := s.b.ExpireNode(c.Request().Context(), c.Param("id"), principalOf(c), c.FormValue("revoke_auth_key") == "on")
	if err != nil {
		return err
	}
	return done(c, devicePath(n.Name), "expired")
}

func (s *server) actApproveDevice(c echo.Context) error {
	n, err := s.b.ApproveNode(c.Request().Context(), c.Param("id"), principalOf(c))
	if err != nil {
		return err
	}
	return done(c, devicePath(n.Name), "approved")
}

func (s *server) actRemoveDevice(c echo.Context) error {
	if err := s.b.RemoveNode(c.Request().Context(), c.Param("id"), principalOf(c)); err != nil {
		return err
	}
	return done(c, "/ui/devices", "removed")
}
