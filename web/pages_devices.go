package web

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
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

// devicesBackParam is the Devices page's query parameter listing the
// cursors of the pages walked before the current one (oldest first, the
// first page's empty cursor left out), comma-separated: each Next page
// link appends the current cursor, the Previous page link pops the last.
// It lets Previous go back without a second store method (a cursor only
// goes forward) and without state on the server.
const devicesBackParam = "back"

// devicesBackMax is how many cursors devicesBackParam keeps: a Next page
// link past it drops the oldest, so Previous from the oldest page kept
// goes to the first page.
const devicesBackMax = 64

// devicesBackMaxLen is the longest devicesBackParam accepted: devicesBackMax
// int64s of 19 digits and the commas between them. It is checked before
// the value is parsed, so a long value costs nothing.
const devicesBackMaxLen = devicesBackMax*20 - 1

// errDevicesBack is the answer to a devicesBackParam that is not what the
// page's links write.
var errDevicesBack = fmt.Errorf("%w: %s must be at most %d node ids separated by commas, increasing and below %s (the cursors of the pages before)",
	ErrBadRequest, devicesBackParam, devicesBackMax, wire.NodePageAfterParam)

// parseDevicesBack reads devicesBackParam from v for the page after the
// cursor after. It is outside input: more than one value, a value longer
// than devicesBackMaxLen, more than devicesBackMax ids, an id that is not
// a positive whole number, or ids not increasing and below after, are
// errDevicesBack (a 400), and what it allocates is bounded by
// devicesBackMax. An absent or empty value is no earlier pages.
func parseDevicesBack(v url.Values, after int64) ([]int64, error) {
	vs := v[devicesBackParam]
	if len(vs) == 0 || len(vs) == 1 && vs[0] == "" {
		return nil, nil
	}
	if len(vs) > 1 || len(vs[0]) > devicesBackMaxLen {
		return nil, errDevicesBack
	}
	back := make([]int64, 0, min(devicesBackMax, strings.Count(vs[0], ",")+1))
	for rest, more := vs[0], true; more; {
		var id string
		id, rest, more = strings.Cut(rest, ",")
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n <= 0 || len(back) == devicesBackMax || len(back) > 0 && n <= back[len(back)-1] {
			return nil, errDevicesBack
		}
		back = append(back, n)
	}
	if back[len(back)-1] >= after {
		return nil, errDevicesBack
	}
	return back, nil
}

// pageDevices shows one page of the fleet (devicesPageSize devices after
// the cursor wire.NodePageAfterParam, narrowed by the filter), with links
// to the next page, the previous one (from the cursors in
// devicesBackParam) and back to the first. Its filter's choices come from
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
	back, err := parseDevicesBack(q, after)
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
	// link is the Devices page after cursor (the first when 0), with the
	// filter kept and back as the pages before it.
	link := func(cursor int64, back []int64) string {
		v := url.Values{}
		for k, vs := range q {
			if k != wire.NodePageAfterParam && k != devicesBackParam && len(vs) > 0 && vs[0] != "" {
				v.Set(k, vs[0])
			}
		}
		if cursor > 0 {
			v.Set(wire.NodePageAfterParam, strconv.FormatInt(cursor, 10))
		}
		if len(back) > 0 {
			ids := make([]string, len(back))
			for i, id := range back {
				ids[i] = strconv.FormatInt(id, 10)
			}
			v.Set(devicesBackParam, strings.Join(ids, ","))
		}
		if len(v) == 0 {
			return "/ui/devices"
		}
		return "/ui/devices?" + v.Encode()
	}
	var next, prev, first string
	if page.Next != "" {
		cursor, err := strconv.ParseInt(page.Next, 10, 64)
		if err != nil || cursor <= after {
			return fmt.Errorf("devices page after %d: the backend's next cursor %q is not a node id above it", after, page.Next)
		}
		nextBack := back
		if after > 0 {
			nextBack = append(slices.Clone(back), after)
			if len(nextBack) > devicesBackMax {
				nextBack = nextBack[len(nextBack)-devicesBackMax:]
			}
		}
		next = link(cursor, nextBack)
	}
	if after > 0 {
		first = link(0, nil)
		prev = first
		if len(back) > 0 {
			prev = link(back[len(back)-1], back[:len(back)-1])
		}
	}
	v := s.newView(c, "Devices", "devices")
	v.Data = struct {
		Rows              []deviceRow
		Total             int
		Filter            nodeFilter
		Choices           filterChoices
		Next, Prev, First string
	}{rows, page.Total, f, choicesOf(page.Nodes).with(f), next, prev, first}
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
