package firewall

import (
	"fmt"
	"strconv"
	"strings"
)

// Reading decoded nft JSON: accessors, and text for messages.

// exprText renders an nft JSON expression roughly as nft prints it.
func exprText(x any) string {
	switch x := x.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "exists"
		}
		return "missing"
	case []any:
		parts := make([]string, len(x))
		for i, item := range x {
			parts[i] = exprText(item)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		for name, body := range x {
			switch name {
			case "meta":
				return "meta " + str(body, "key")
			case "payload":
				if p := str(body, "protocol"); p != "" {
					return p + " " + str(body, "field")
				}
				return fmt.Sprintf("@%s,%v,%v", str(body, "base"), field(body, "offset"), field(body, "len"))
			case "ct":
				return "ct " + str(body, "key")
			case "fib":
				return "fib " + strings.Join(strs(field(body, "flags")), " . ") + " " + str(body, "result")
			case "set":
				return "{ " + strings.ReplaceAll(exprText(body), ",", ", ") + " }"
			case "range":
				ends, _ := body.([]any)
				if len(ends) == 2 {
					return exprText(ends[0]) + "-" + exprText(ends[1])
				}
			case "prefix":
				return fmt.Sprintf("%s/%v", str(body, "addr"), field(body, "len"))
			case "concat":
				items, _ := body.([]any)
				parts := make([]string, len(items))
				for i, item := range items {
					parts[i] = exprText(item)
				}
				return strings.Join(parts, " . ")
			case "elem":
				return exprText(field(body, "val"))
			case "&", "|", "^", "<<", ">>":
				args, _ := body.([]any)
				if len(args) == 2 {
					return exprText(args[0]) + " " + name + " " + exprText(args[1])
				}
			}
			return name
		}
	}
	return fmt.Sprint(x)
}

func matchText(op string, left, right any) string {
	switch op {
	case "==", "in", "":
		return exprText(left) + " " + exprText(right)
	}
	return exprText(left) + " " + op + " " + exprText(right)
}

// Accessors for decoded JSON.

func field(x any, name string) any {
	obj, _ := x.(map[string]any)
	return obj[name]
}

func str(x any, name string) string {
	s, _ := field(x, name).(string)
	return s
}

func strs(x any) []string {
	switch x := x.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, item := range x {
			if s, ok := item.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
