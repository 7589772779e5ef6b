package docs

import (
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"unicode"
)

// readmeMaxLines bounds the README: one screen of what lagwatch is and
// why, the two commands, the data flow's picture, the programs in a few
// lines and the map of docs/ (81 lines when the bound was set). Whatever
// does not fit belongs in a page of docs/.
const readmeMaxLines = 100

// mapHeading is the README's section that links every page of docs/.
const mapHeading = "Documentation"

// TestLinks: every relative link of the README and of the pages names a
// file of the repository, and every #anchor a heading of its file.
// Links with a scheme (https:, mailto:) are not followed.
func TestLinks(t *testing.T) {
	for _, p := range checkLinks(os.DirFS(".."), markdownFiles(t)) {
		t.Error(p)
	}
}

// TestReadmeMapsEveryPage: the README's map links every page of docs/.
func TestReadmeMapsEveryPage(t *testing.T) {
	root := os.DirFS("..")
	readme := parse(t, root, "README.md")
	mapped, line := readme.sectionLinks(mapHeading)
	if line == 0 {
		t.Fatalf("README.md has no %q section, the map of docs/", "## "+mapHeading)
	}
	for _, file := range markdownFiles(t) {
		if strings.HasPrefix(file, "docs/") && !slices.Contains(mapped, file) {
			t.Errorf("README.md:%d: the %q map has no link to %s", line, mapHeading, file)
		}
	}
}

// TestReadmeShort: the README fits readmeMaxLines.
func TestReadmeShort(t *testing.T) {
	readme := parse(t, os.DirFS(".."), "README.md")
	if n := len(readme.lines); n > readmeMaxLines {
		t.Errorf("README.md has %d lines, more than %d: move the detail to a page of docs/ and link it", n, readmeMaxLines)
	}
}

// TestPagesStartWithTitle: every page opens with its title, a level-one
// heading, followed by what it holds.
func TestPagesStartWithTitle(t *testing.T) {
	root := os.DirFS("..")
	for _, file := range markdownFiles(t) {
		p := parse(t, root, file)
		if len(p.headings) == 0 || p.headings[0].line != 1 || p.headings[0].level != 1 {
			t.Errorf("%s:1: does not start with a title (\"# ...\")", file)
		}
	}
}

// TestSlug: anchors are made as GitHub makes them. Each case is named by
// its reason: heading, then its anchor.
func TestSlug(t *testing.T) {
	for reason, tc := range map[string][2]string{
		"lower case, spaces to dashes":                   {"The rules", "the-rules"},
		"an apostrophe is dropped":                       {"Verdicts compared with Burrow's", "verdicts-compared-with-burrows"},
		"parentheses are dropped":                        {"Running more than one (high availability)", "running-more-than-one-high-availability"},
		"code keeps its text, the slash goes":            {"HTTP API (`bench/apibench`)", "http-api-benchapibench"},
		"symbols and colons go, each space stays a dash": {"Collector: 1×, 3× and 10× the groups", "collector-1-3-and-10-the-groups"},
		"underscore and dash stay":                       {"snake_case and kebab-case", "snake_case-and-kebab-case"},
		"a link counts by its text":                      {"[A link](x.md) here", "a-link-here"},
		"letters of any script stay":                     {"Élan 2", "élan-2"},
	} {
		t.Run(reason, func(t *testing.T) {
			if got := slug(tc[0]); got != tc[1] {
				t.Errorf("slug(%q) = %q, want %q", tc[0], got, tc[1])
			}
		})
	}
}

// TestCheckLinks: the checker finds what is broken, names file and line,
// and does not take code for links or headings.
func TestCheckLinks(t *testing.T) {
	fsys := fstest.MapFS{
		"README.md": {Data: []byte("# Top\n\nSee [a](docs/a.md#second) and [top](#top).\n")},
		"docs/a.md": {Data: []byte("# First\n\n## Second\n\n```\n# Not a heading\n[x](missing.md)\n```\n\n## Second\n")},
		"main.go":   {Data: []byte("package main\n")},
	}
	for _, tc := range []struct {
		name, file, text string
		want             []string // problems, in order
	}{
		{"good links", "docs/b.md", "# B\n\n[r](../README.md#top) [s](a.md#second-1) [g](../main.go) [d](.) [w](https://example.com/#x)\n", nil},
		{"missing file", "docs/b.md", "# B\n\ntext\n[gone](gone.md)\n", []string{"docs/b.md:4: gone.md: no such file docs/gone.md"}},
		{"missing anchor in this file", "docs/b.md", "# B\n\n[x](#c)\n", []string{`docs/b.md:3: #c: no heading "c" in docs/b.md`}},
		{"missing anchor in another file", "docs/b.md", "# B\n[x](a.md#third)\n", []string{`docs/b.md:2: a.md#third: no heading "third" in docs/a.md`}},
		{"a heading in a fence is none", "docs/b.md", "# B\n[x](a.md#not-a-heading)\n", []string{`docs/b.md:2: a.md#not-a-heading: no heading "not-a-heading" in docs/a.md`}},
		{"a link over two lines counts on its target's line", "docs/b.md", "# B\n[two\nlines](nowhere.md)\n", []string{"docs/b.md:3: nowhere.md: no such file docs/nowhere.md"}},
		{"code is not a link", "docs/b.md", "# B\n`[x](nowhere.md)` and ``[y](`z`)``\n\n```\n[z](nowhere.md)\n```\n", nil},
		{"outside the repository", "docs/b.md", "# B\n[up](../../x.md)\n", []string{"docs/b.md:2: ../../x.md: outside the repository"}},
		{"escaped path", "docs/b.md", "# B\n[sp](a%2Emd)\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := fstest.MapFS{tc.file: {Data: []byte(tc.text)}}
			for k, v := range fsys {
				files[k] = v
			}
			got := checkLinks(files, []string{tc.file})
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// markdownFiles are the files checked, from the top of the repository:
// the README and every page of docs/.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	pages, err := fs.Glob(os.DirFS(".."), "docs/*.md")
	if err != nil || len(pages) == 0 {
		t.Fatalf("pages of docs/: %v %v", pages, err)
	}
	return append([]string{"README.md"}, pages...)
}

// checkLinks returns one problem per broken link of files, as
// "file:line: target: why", in files' order.
func checkLinks(fsys fs.FS, files []string) []string {
	pages := map[string]*page{}
	get := func(name string) (*page, error) {
		if p, ok := pages[name]; ok {
			return p, nil
		}
		p, err := readPage(fsys, name)
		if err != nil {
			return nil, err
		}
		pages[name] = p
		return p, nil
	}
	var problems []string
	for _, file := range files {
		p, err := get(file)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, l := range p.links() {
			if why := check(fsys, get, file, l.target); why != "" {
				problems = append(problems, fmt.Sprintf("%s:%d: %s: %s", file, l.line, l.target, why))
			}
		}
	}
	return problems
}

// schemeRE matches a link with a scheme (https:, mailto:), not followed.
var schemeRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)

// check says why target, a link in file, is broken, or "" when it is not.
func check(fsys fs.FS, get func(string) (*page, error), file, target string) string {
	if schemeRE.MatchString(target) {
		return ""
	}
	ref, anchor, _ := strings.Cut(target, "#")
	ref, err := url.PathUnescape(ref)
	if err != nil {
		return err.Error()
	}
	name := file
	if ref != "" {
		name = path.Join(path.Dir(file), ref)
		if name == ".." || strings.HasPrefix(name, "../") || path.IsAbs(ref) {
			return "outside the repository"
		}
		if _, err := fs.Stat(fsys, name); err != nil {
			return "no such file " + name
		}
	}
	if anchor == "" || !strings.HasSuffix(name, ".md") {
		return ""
	}
	p, err := get(name)
	if err != nil {
		return err.Error()
	}
	if !p.anchors[anchor] {
		return fmt.Sprintf("no heading %q in %s", anchor, name)
	}
	return ""
}

// page is a markdown file with fenced blocks and code spans blanked out
// (line numbers kept), so that what is left is text, links and headings.
type page struct {
	lines    []string
	headings []heading
	anchors  map[string]bool
}

type heading struct {
	level, line int
	text        string
}

type link struct {
	line   int
	target string
}

// parse reads a page or fails the test.
func parse(t *testing.T, fsys fs.FS, name string) *page {
	t.Helper()
	p, err := readPage(fsys, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var headingRE = regexp.MustCompile(`^(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$`)

// readPage reads name and its headings' anchors, numbered as GitHub
// numbers repeated ones ("setup", "setup-1", ...).
func readPage(fsys fs.FS, name string) (*page, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	raw := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	p := &page{anchors: map[string]bool{}}
	fence := ""
	for i, line := range raw {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case fence != "":
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			raw[i] = ""
			continue
		case strings.HasPrefix(trimmed, "```"), strings.HasPrefix(trimmed, "~~~"):
			fence = trimmed[:3]
			raw[i] = ""
			continue
		}
		if m := headingRE.FindStringSubmatch(line); m != nil {
			p.headings = append(p.headings, heading{level: len(m[1]), line: i + 1, text: m[2]})
		}
	}
	p.lines = strings.Split(blankCode(strings.Join(raw, "\n")), "\n")
	seen := map[string]int{}
	for _, h := range p.headings {
		s := slug(h.text)
		if n := seen[s]; n > 0 {
			seen[s]++
			s = fmt.Sprintf("%s-%d", s, n)
		} else {
			seen[s] = 1
		}
		p.anchors[s] = true
	}
	return p, nil
}

// blankCode replaces the content of every code span (between two runs of
// backticks of the same length, possibly over lines) by spaces, keeping
// newlines. A run of backticks without a closing run of its length is text.
func blankCode(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); {
		if b[i] != '`' {
			i++
			continue
		}
		n := run(b, i)
		end := -1
		for j := i + n; j < len(b); {
			if b[j] != '`' {
				j++
				continue
			}
			if m := run(b, j); m == n {
				end = j + m
				break
			} else {
				j += m
			}
		}
		if end < 0 {
			i += n
			continue
		}
		for k := i; k < end; k++ {
			if b[k] != '\n' {
				b[k] = ' '
			}
		}
		i = end
	}
	return string(b)
}

// run is the number of backticks from b[i] on.
func run(b []byte, i int) int {
	n := 0
	for i+n < len(b) && b[i+n] == '`' {
		n++
	}
	return n
}

// linkRE matches the end of an inline link, "](target)" or
// "](target "title")"; the link text may start on an earlier line.
var linkRE = regexp.MustCompile(`\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)`)

// links are the page's inline links, outside code.
func (p *page) links() []link {
	var out []link
	for i, line := range p.lines {
		for _, m := range linkRE.FindAllStringSubmatch(line, -1) {
			if m[1] != "" {
				out = append(out, link{line: i + 1, target: m[1]})
			}
		}
	}
	return out
}

// sectionLinks are the link targets, without anchors, of the level-two
// section titled title, and the line of its heading (0 when there is no
// such section).
func (p *page) sectionLinks(title string) ([]string, int) {
	start, end := 0, len(p.lines)
	for _, h := range p.headings {
		if start == 0 && h.level == 2 && h.text == title {
			start = h.line
		} else if start != 0 && h.level <= 2 {
			end = h.line - 1
			break
		}
	}
	if start == 0 {
		return nil, 0
	}
	var out []string
	for _, l := range p.links() {
		if l.line > start && l.line <= end {
			ref, _, _ := strings.Cut(l.target, "#")
			out = append(out, ref)
		}
	}
	return out, start
}

// mdLinkRE is a link inside a heading, which counts by its text.
var mdLinkRE = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)

// slug is the anchor GitHub gives a heading: its text lower-cased, every
// character but letters, digits, marks, '_', '-' and spaces dropped, each
// space turned into '-'.
func slug(text string) string {
	text = mdLinkRE.ReplaceAllString(text, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-', r == '_', unicode.IsLetter(r), unicode.IsDigit(r), unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
