package alert

// classRank maps the severities of a risk class's alertSeverity
// (acl.AlertSeverities: info, low, medium, high, critical) onto the ranks
// of a rule's (severityRank): low is info, medium warning, high critical.
var classRank = map[string]int{"info": 0, "low": 0, "medium": 1, "high": 2, "critical": 2}

// severityNames are the rule severities by rank.
var severityNames = []string{"info", "warning", "critical"}

// Stricter returns the stricter of a rule's severity sev and a device's
// risk class severity class (empty or unknown: none), as a rule severity
// (info, warning or critical): an alert about a critical device is never
// sent as a warning.
func Stricter(sev, class string) string {
	c, ok := classRank[class]
	if !ok || c <= severityRank[sev] {
		return sev
	}
	return severityNames[c]
}
