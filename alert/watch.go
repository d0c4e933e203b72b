package alert

import (
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/tailscale/hujson"
)

// Bounds on the "watch" list of a rules file.
const (
	// MaxWatch bounds the entries of "watch".
	MaxWatch = 64
	// MaxWatchPaths bounds the logs and the files of one entry, each.
	MaxWatchPaths = 32
	// MaxWatchPath bounds a watched path, in bytes.
	MaxWatchPath = 512
	// MaxWatchMatch bounds a log's expression, in bytes.
	MaxWatchMatch = 512
)

// Watch is one entry of a rules file's "watch" list: what the devices
// with one of Tags (all devices when empty) watch on their own disks.
type Watch struct {
	// Tags are the devices' tags; empty: every device.
	Tags []string
	// Logs are log files to follow, each with the expression a line
	// must match to be reported.
	Logs []WatchLog
	// Files are files, or directories (their files, not their
	// subdirectories), whose content must not change unnoticed.
	// Absolute and clean, without a trailing slash.
	Files []string
}

// WatchLog is one log file a device follows.
type WatchLog struct {
	// Path is the log file's absolute, clean path.
	Path string
	// Match is the expression (Go's RE2 syntax) a line must match.
	Match string
}

// watchList parses the "watch" list.
func (p *parser) watchList(rs *Rules, v *hujson.Value) {
	els := p.elements(v, `"watch"`)
	if len(els) > MaxWatch {
		p.errorf(v.StartOffset, `"watch" has %d entries; at most %d`, len(els), MaxWatch)
		return
	}
	for _, e := range els {
		rs.Watch = append(rs.Watch, p.watch(&e))
	}
}

// watch parses one entry of "watch".
func (p *parser) watch(v *hujson.Value) Watch {
	var w Watch
	for _, m := range p.members(v, "a watch entry") {
		val := &m.Value
		switch name(&m) {
		case "tags":
			w.Tags = p.strs(val, "tags")
		case "logs":
			for _, e := range p.bounded(val, `"logs"`) {
				w.Logs = append(w.Logs, p.watchLog(&e))
			}
		case "files":
			for _, e := range p.bounded(val, `"files"`) {
				w.Files = append(w.Files, p.watchPath(&e, "files entry"))
			}
		default:
			p.errorf(m.Name.StartOffset, "unknown watch key %q (known: tags, logs, files)", name(&m))
		}
	}
	return w
}

// bounded returns v's elements, reporting a list longer than
// MaxWatchPaths.
func (p *parser) bounded(v *hujson.Value, what string) []hujson.Value {
	els := p.elements(v, what)
	if len(els) > MaxWatchPaths {
		p.errorf(v.StartOffset, "%s has %d entries; at most %d", what, len(els), MaxWatchPaths)
		return nil
	}
	return els
}

// watchLog parses one {"path", "match"} of "logs".
func (p *parser) watchLog(v *hujson.Value) WatchLog {
	var l WatchLog
	for _, m := range p.members(v, "a log") {
		val := &m.Value
		switch name(&m) {
		case "path":
			l.Path = p.watchPath(val, "path")
		case "match":
			l.Match = p.str(val, "match")
			if len(l.Match) > MaxWatchMatch {
				p.errorf(val.StartOffset, "match is %d bytes; at most %d", len(l.Match), MaxWatchMatch)
			} else if _, err := regexp.Compile(l.Match); err != nil {
				p.errorf(val.StartOffset, "match %q: %v", l.Match, err)
			}
		default:
			p.errorf(m.Name.StartOffset, "unknown log key %q (known: path, match)", name(&m))
		}
	}
	if l.Path == "" || l.Match == "" {
		p.errorf(v.StartOffset, `a log needs "path" and "match"`)
	}
	return l
}

// watchPath parses a watched path: absolute, at most MaxWatchPath bytes;
// it returns it clean (a directory's trailing slash dropped).
func (p *parser) watchPath(v *hujson.Value, what string) string {
	s := p.str(v, what)
	switch {
	case s == "":
		return ""
	case !strings.HasPrefix(s, "/") || strings.ContainsRune(s, 0):
		p.errorf(v.StartOffset, "%s %q is not an absolute path", what, s)
	case len(s) > MaxWatchPath:
		p.errorf(v.StartOffset, "%s is %d bytes; at most %d", what, len(s), MaxWatchPath)
	}
	return path.Clean(s)
}

// WatchFor returns what a device with tags watches: the union of the
// entries naming one of its tags (or none), with a log's expressions
// merged; nil, nil when nothing.
func (rs *Rules) WatchFor(tags []string) (logs map[string][]string, files []string) {
	for _, w := range rs.Watch {
		if len(w.Tags) > 0 && !slices.ContainsFunc(tags, func(t string) bool { return slices.Contains(w.Tags, t) }) {
			continue
		}
		for _, l := range w.Logs {
			if logs == nil {
				logs = map[string][]string{}
			}
			if !slices.Contains(logs[l.Path], l.Match) {
				logs[l.Path] = append(logs[l.Path], l.Match)
			}
		}
		for _, f := range w.Files {
			if !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
	}
	return logs, files
}
