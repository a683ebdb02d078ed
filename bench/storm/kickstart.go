//go:build linux

package main

import (
	"fmt"
	"net/url"
	"strings"
)

// phoneHome is one curl command of a kickstart script that reports to the
// server: what the machine sends when anaconda runs that script.
type phoneHome struct {
	section string // "pre" or "post"
	method  string
	url     string
	body    string // form-encoded, as curl -d sends it
}

// phoneHomes returns the curl commands of the kickstart's %pre and %post
// scripts, in order. Other commands are not run: the storm measures what
// reaches the server.
func phoneHomes(ks string) ([]phoneHome, error) {
	var out []phoneHome
	section := ""
	for line := range strings.Lines(ks) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "%") {
			name := strings.Fields(trimmed)[0]
			switch name {
			case "%pre", "%post":
				section = name[1:]
			default:
				section = ""
			}
			continue
		}
		if section == "" {
			continue
		}
		words, err := shellWords(trimmed)
		if err != nil {
			return nil, fmt.Errorf("kickstart %%%s: %w", section, err)
		}
		if len(words) == 0 || words[0] != "curl" {
			continue
		}
		p, err := curlCommand(words[1:])
		if err != nil {
			return nil, fmt.Errorf("kickstart %%%s: %w", section, err)
		}
		p.section = section
		out = append(out, p)
	}
	return out, nil
}

// curlCommand reads the options of a curl command line that matter on the wire.
func curlCommand(args []string) (phoneHome, error) {
	var p phoneHome
	var data []string
	withValue := map[string]bool{"-o": true, "--output": true, "-H": true, "--header": true, "-m": true,
		"--max-time": true, "--retry": true, "--retry-delay": true, "--connect-timeout": true, "-A": true,
		"--user-agent": true, "-w": true, "--write-out": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		value := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("curl %s needs a value", a)
			}
			i++
			return args[i], nil
		}
		switch {
		case a == "-d" || a == "--data" || a == "--data-raw" || a == "--data-binary":
			v, err := value()
			if err != nil {
				return p, err
			}
			data = append(data, v)
		case a == "--data-urlencode":
			v, err := value()
			if err != nil {
				return p, err
			}
			if name, val, ok := strings.Cut(v, "="); ok {
				data = append(data, name+"="+url.QueryEscape(val))
			} else {
				data = append(data, url.QueryEscape(v))
			}
		case a == "-X" || a == "--request":
			v, err := value()
			if err != nil {
				return p, err
			}
			p.method = v
		case withValue[a]:
			if _, err := value(); err != nil {
				return p, err
			}
		case strings.HasPrefix(a, "http://") || strings.HasPrefix(a, "https://"):
			p.url = a
		}
	}
	if p.url == "" {
		return p, fmt.Errorf("curl without a URL")
	}
	p.body = strings.Join(data, "&")
	if p.method == "" {
		p.method = "GET"
		if len(data) > 0 {
			p.method = "POST"
		}
	}
	return p, nil
}

// shellWords splits a command line into words as sh would for the simple
// commands of a kickstart script: quotes, and the first command only (it
// stops at ||, &&, ;, | and redirections).
func shellWords(line string) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'' || c == '"':
			end := strings.IndexByte(line[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", line)
			}
			word.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '\\' && i+1 < len(line):
			i++
			word.WriteByte(line[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case c == '|' || c == '&' || c == ';' || c == '>' || c == '<' || c == '#' && !inWord:
			if inWord {
				words = append(words, word.String())
			}
			return words, nil
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}

// treeinfoStage2 returns [stage2] mainimage of a .treeinfo, or "".
func treeinfoStage2(text string) string {
	section := ""
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			continue
		}
		if section != "stage2" {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "mainimage" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
