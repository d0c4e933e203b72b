package alert

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/tailscale/hujson"
)

// ContentTypeJSONLines is the content type of the audit export's webhook
// bodies: one JSON object a line.
const ContentTypeJSONLines = "application/x-ndjson"

// auditExport parses "audit_export": the names of the webhook and syslog
// destinations every audit event is streamed to.
func (p *parser) auditExport(rs *Rules, v *hujson.Value) {
	p.exportPos = v.StartOffset
	rs.AuditExport = p.strs(v, `"audit_export"`)
}

// checkAuditExport checks that "audit_export" names webhook or syslog
// destinations of the file, each once.
func (p *parser) checkAuditExport(rs *Rules) {
	for i, name := range rs.AuditExport {
		d, ok := rs.Destinations[name]
		switch {
		case !ok:
			p.errorf(p.exportPos, "audit_export: no destination named %q", name)
		case d.Type != TypeWebhook && d.Type != TypeSyslog:
			p.errorf(p.exportPos, "audit_export: %q is a %s destination; the audit log streams to webhook and syslog ones", name, d.Type)
		case slices.Contains(rs.AuditExport[:i], name):
			p.errorf(p.exportPos, "audit_export names %q twice", name)
		}
	}
}

// PostLines POSTs body, JSON lines, to the webhook d once, signed as an
// alert is (HeaderSignature, HeaderTimestamp); a non-2xx answer is an
// error.
func (s *Sender) PostLines(ctx context.Context, d Destination, body []byte) error {
	return s.post(ctx, d, body, ContentTypeJSONLines, true)
}

// AuditSyslogMessage renders one exported audit event as an RFC 5424
// message of facility log audit (13), severity informational, stamped
// with the event's time: MSGID "audit", structured data
// [ward-audit@32473 id action hash] and the event's JSON line as the
// message.
func AuditSyslogMessage(id int64, at time.Time, action, hash string, line []byte) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "-"
	}
	sd := fmt.Sprintf(`[ward-audit@32473 id="%s" action="%s" hash="%s"]`, strconv.FormatInt(id, 10), sdEscape(action), sdEscape(hash))
	return fmt.Sprintf("<%d>1 %s %s ward-coordinator - audit %s %s", 13*8+6, at.UTC().Format(time.RFC3339Nano),
		printable(host, 255), sd, oneLine(string(line)))
}
