package pipeline

import (
	"strings"
)

// interpolate expands ${NAME} and ${NAME:-default} in s, shell style:
// the default applies when NAME is unset or empty. $$ is a literal $, and a
// $ followed by anything else is kept as is, so that passwords with a $ in
// them need no escaping. A default is taken literally up to the first }.
// It returns every problem found in s, described without quoting s, which
// may hold a secret.
func interpolate(s string, env func(string) (string, bool)) (string, []string) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var (
		out      strings.Builder
		problems []string
	)
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			out.WriteString(s)
			return out.String(), problems
		}
		out.WriteString(s[:i])
		switch s[i+1] {
		case '$':
			out.WriteByte('$')
			s = s[i+2:]
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				problems = append(problems, "unterminated ${ (missing }; write $$ for a literal $)")
				return out.String(), problems
			}
			ref := s[i+2 : i+2+end]
			s = s[i+2+end+1:]
			name, def, hasDefault := strings.Cut(ref, ":-")
			if !isVariableName(name) {
				problems = append(problems, "invalid variable reference: use ${NAME} or ${NAME:-default}, NAME being letters, digits and _")
				continue
			}
			val, set := env(name)
			switch {
			case hasDefault && val == "":
				out.WriteString(def)
			case set:
				out.WriteString(val)
			default:
				problems = append(problems, "variable "+name+" is not set and has no default")
			}
		default:
			out.WriteByte('$')
			s = s[i+1:]
		}
	}
}

func isVariableName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
