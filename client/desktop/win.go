package desktop

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"unicode/utf16"
)

// taskName names Ward's scheduled task.
const taskName = "Ward"

// winStateDir is %LOCALAPPDATA%\Ward: local, not roaming, since the
// machine key must stay on this machine.
func winStateDir(e Env) string {
	base := e.getenv("LOCALAPPDATA")
	if base == "" {
		if e.Home == "" {
			return "ward-state"
		}
		base = e.Home + `\AppData\Local`
	}
	return strings.TrimRight(base, `\`) + `\Ward`
}

// winNotify shows a toast through PowerShell and the Windows Runtime's
// ToastNotificationManager (as PowerShell's own app, which every Windows
// 10 and 11 has registered). The script goes base64-encoded
// (-EncodedCommand), so no quoting of the command line is involved.
func winNotify(title, body string) []string {
	script := "[Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, ContentType = WindowsRuntime] > $null\n" +
		"$x = [Windows.UI.Notifications.ToastNotificationManager]::GetTemplateContent([Windows.UI.Notifications.ToastTemplateType]::ToastText02)\n" +
		"$t = $x.GetElementsByTagName('text')\n" +
		"$t.Item(0).AppendChild($x.CreateTextNode(" + psString(title) + ")) > $null\n" +
		"$t.Item(1).AppendChild($x.CreateTextNode(" + psString(body) + ")) > $null\n" +
		"[Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier('{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}\\WindowsPowerShell\\v1.0\\powershell.exe').Show([Windows.UI.Notifications.ToastNotification]::new($x))\n"
	return []string{"powershell", "-NoProfile", "-NonInteractive", "-WindowStyle", "Hidden", "-EncodedCommand", psEncode(script)}
}

// psString quotes s as a PowerShell verbatim string.
func psString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// psEncode is what -EncodedCommand takes: UTF-16LE, base64.
func psEncode(script string) string {
	return base64.StdEncoding.EncodeToString(utf16LE(script)[2:])
}

// utf16LE encodes s as UTF-16, little-endian, after a byte order mark.
func utf16LE(s string) []byte {
	u := utf16.Encode([]rune("\ufeff" + s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// winAutostart is a scheduled task of the user's, started at their
// logon, with the user's rights (the highest they have when elevated is
// set: TUN mode needs an administrator). The task's XML is kept in
// stateDir, where schtasks reads it.
func winAutostart(e Env, args []string, stateDir string, elevated bool) Autostart {
	p := strings.TrimRight(stateDir, `\`) + `\ward-task.xml`
	return Autostart{
		Path:    p,
		Content: utf16LE(taskXML(winUser(e), args, elevated)),
		Enable:  [][]string{{"schtasks", "/Create", "/TN", taskName, "/XML", p, "/F"}, {"schtasks", "/Run", "/TN", taskName}},
		Disable: [][]string{{"schtasks", "/End", "/TN", taskName}, {"schtasks", "/Delete", "/TN", taskName, "/F"}},
	}
}

// winUser is DOMAIN\user of the process (USERDOMAIN, USERNAME).
func winUser(e Env) string {
	if d := e.getenv("USERDOMAIN"); d != "" {
		return d + `\` + e.getenv("USERNAME")
	}
	return e.getenv("USERNAME")
}

// taskXML is the task's definition for schtasks /Create /XML, as text:
// the file holds it in UTF-16 (utf16LE), as Task Scheduler writes its own.
func taskXML(user string, args []string, elevated bool) string {
	level := "LeastPrivilege"
	if elevated {
		level = "HighestAvailable"
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>Ward desktop client</Description>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>
      <UserId>` + xmlText(user) + `</UserId>
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>` + xmlText(user) + `</UserId>
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>` + level + `</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>3</Count>
    </RestartOnFailure>
    <Hidden>true</Hidden>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>` + xmlText(args[0]) + `</Command>
      <Arguments>` + xmlText(winCommandLine(args[1:])) + `</Arguments>
    </Exec>
  </Actions>
</Task>
`)
	return b.String()
}

// winCommandLine joins args as Windows programs split them
// (CommandLineToArgvW's rules: quotes around an argument with a space,
// tab or quote; a quote escaped by a backslash, and the backslashes
// before it doubled).
func winCommandLine(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = winQuote(a)
	}
	return strings.Join(q, " ")
}

// QuoteWindowsArg quotes one argument of a Windows command line, as
// CommandLineToArgvW splits it (see winCommandLine).
func QuoteWindowsArg(a string) string { return winQuote(a) }

// winQuote quotes one argument for winCommandLine.
func winQuote(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t\"") {
		return a
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for _, c := range a {
		switch c {
		case '\\':
			slashes++
			continue
		case '"':
			b.WriteString(strings.Repeat(`\`, 2*slashes+1))
		default:
			b.WriteString(strings.Repeat(`\`, slashes))
		}
		slashes = 0
		b.WriteRune(c)
	}
	b.WriteString(strings.Repeat(`\`, 2*slashes))
	b.WriteByte('"')
	return b.String()
}
