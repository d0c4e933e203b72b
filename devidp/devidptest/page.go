package devidptest

import (
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// parsePage fills p.forms, and p.Step, p.Error and p.form when p.Body is
// the provider's login page (its <main> carries data-devidp-step).
func parsePage(p *Page) {
	doc, err := html.Parse(strings.NewReader(p.Body))
	if err != nil {
		return
	}
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch {
		case n.Data == "main" && attr(n, "data-devidp-step") != "":
			p.Step = attr(n, "data-devidp-step")
		case n.Data == "p" && hasClass(n, "error"):
			p.Error = strings.TrimSpace(text(n))
		case n.Data == "form":
			f := parseForm(n)
			p.forms = append(p.forms, f)
			if p.form == nil {
				p.form = f
			}
		}
	}
	if p.Step == "" {
		p.Error, p.form = "", nil
	}
}

func parseForm(n *html.Node) *form {
	f := &form{action: attr(n, "action"), fields: url.Values{}}
	for c := range n.Descendants() {
		if c.Type == html.ElementNode && c.Data == "input" && attr(c, "type") == "hidden" {
			f.fields.Set(attr(c, "name"), attr(c, "value"))
		}
	}
	return f
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		if c == class {
			return true
		}
	}
	return false
}

func text(n *html.Node) string {
	var b strings.Builder
	for c := range n.Descendants() {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}
