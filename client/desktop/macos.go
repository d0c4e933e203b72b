package desktop

import (
	"bytes"
	"encoding/xml"
	"path"
	"strconv"
	"strings"
)

// launchdLabel names Ward's launchd agent (and its plist file).
const launchdLabel = "net.wardnet.ward"

// macStateDir is /Library/Application Support/Ward for root, else
// ~/Library/Application Support/Ward.
func macStateDir(e Env) string {
	if e.root() {
		return "/Library/Application Support/Ward"
	}
	if e.Home == "" {
		return "ward-state"
	}
	return path.Join(e.Home, "Library", "Application Support", "Ward")
}

// macNotify shows a notification through AppleScript's display
// notification.
func macNotify(title, body string) []string {
	return []string{"osascript", "-e", "display notification " + appleScriptString(body) + " with title " + appleScriptString(title)}
}

// appleScriptString quotes s as an AppleScript string literal.
func appleScriptString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// macAutostart is a launchd agent in ~/Library/LaunchAgents that runs
// args at login and again if it fails, bootstrapped into the user's GUI
// domain at once.
func macAutostart(e Env, args []string, logFile string) Autostart {
	p := path.Join(e.Home, "Library", "LaunchAgents", launchdLabel+".plist")
	domain := "gui/" + strconv.Itoa(e.UID)
	return Autostart{
		Path:    p,
		Content: launchdPlist(args, logFile),
		Enable:  [][]string{{"launchctl", "bootstrap", domain, p}},
		Disable: [][]string{{"launchctl", "bootout", domain, p}},
	}
}

// launchdPlist is the agent's property list.
func launchdPlist(args []string, logFile string) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header + `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString("<plist version=\"1.0\">\n<dict>\n")
	plistString(&b, "Label", launchdLabel)
	b.WriteString("\t<key>ProgramArguments</key>\n\t<array>\n")
	for _, a := range args {
		b.WriteString("\t\t<string>" + xmlText(a) + "</string>\n")
	}
	b.WriteString("\t</array>\n")
	b.WriteString("\t<key>RunAtLoad</key>\n\t<true/>\n")
	b.WriteString("\t<key>KeepAlive</key>\n\t<dict>\n\t\t<key>SuccessfulExit</key>\n\t\t<false/>\n\t</dict>\n")
	plistString(&b, "StandardOutPath", logFile)
	plistString(&b, "StandardErrorPath", logFile)
	b.WriteString("</dict>\n</plist>\n")
	return b.Bytes()
}

// plistString writes a key and its string value.
func plistString(b *bytes.Buffer, key, value string) {
	b.WriteString("\t<key>" + key + "</key>\n\t<string>" + xmlText(value) + "</string>\n")
}

// xmlText escapes s for XML character data.
func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
	return b.String()
}
