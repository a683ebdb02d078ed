package validate

import (
	"errors"
	"strings"
)

var (
	errOpenQuote = errors.New("a quote is not closed: close it on the same line, a kickstart command cannot span lines")
	errContinued = errors.New(`a trailing \ does not continue a kickstart command onto the next line: put the whole command on one line`)
)

// split breaks a line into words the way anaconda does (Python's shlex in
// POSIX mode): whitespace separates words, '...' and "..." quote, a
// backslash escapes the next character outside single quotes. With
// comments, # outside quotes ends the line, even in the middle of a word;
// midComment reports that case, because it silently cuts a value short.
func split(line string, comments bool) (words []string, midComment bool, err error) {
	var word strings.Builder
	inWord := false // a word has started, even if it is still empty ("")
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				word.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\'):
				i++
				word.WriteByte(line[i])
			default:
				word.WriteByte(c)
			}
		case c == '\\':
			if i+1 == len(line) {
				return nil, false, errContinued
			}
			i++
			word.WriteByte(line[i])
			inWord = true
		case c == '\'' || c == '"':
			quote = c
			inWord = true
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case c == '#' && comments:
			if inWord {
				words = append(words, word.String())
			}
			return words, inWord, nil
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, false, errOpenQuote
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, false, nil
}
