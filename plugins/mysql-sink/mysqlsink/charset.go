package mysqlsink

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// The sink has the driver interpolate parameters into the SQL text
// (interpolateParams), escaping quotes with a backslash. In a few multibyte
// character sets a character's last byte can be 0x5c, the backslash: the
// server then reads the escape as part of the character before it, and the
// quote after it ends the string, so a crafted dimension value becomes SQL.
// The driver refuses interpolateParams with these sets' collations, but only
// when `collation=` names one; `charset=gbk` alone passes, and then a crafted
// dimension value inserted a row of its own. The sink refuses both the
// charsets and the collations, when the config is checked.

// unsafeCollations is go-sql-driver/mysql's own list (collations.go,
// v1.10.1).
var unsafeCollations = map[string]bool{
	"big5_chinese_ci":        true,
	"sjis_japanese_ci":       true,
	"gbk_chinese_ci":         true,
	"big5_bin":               true,
	"gb2312_bin":             true,
	"gbk_bin":                true,
	"sjis_bin":               true,
	"cp932_japanese_ci":      true,
	"cp932_bin":              true,
	"gb18030_chinese_ci":     true,
	"gb18030_bin":            true,
	"gb18030_unicode_520_ci": true,
}

// unsafeCharsets are the character sets of unsafeCollations.
var unsafeCharsets = map[string]bool{
	"big5": true, "cp932": true, "gb2312": true, "gb18030": true, "gbk": true, "sjis": true,
}

// charsetName is a character set, collation or system variable name as
// the server takes it unquoted. The driver pastes charset= into SET NAMES
// and other parameters' names into SET as they are; a quoted or odd one
// could name an unsafe set or a session variable past the lists.
var charsetName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// sessionCharsetVariables, given as DSN parameters, would change the
// connection's character set behind charset= and collation=.
var sessionCharsetVariables = map[string]bool{
	"character_set_client": true, "character_set_connection": true, "character_set_results": true, "collation_connection": true,
}

const (
	// Values cross as Go strings, UTF-8; a connection in another character
	// set has the server convert them as if they were in that set: latin1
	// stored "日本" as "æ—¥æœ¬".
	notUTF8MB4    = "the sink sends UTF-8 and a connection in another character set would store dimension values converted as if they were in that set"
	injectionRisk = "a crafted value could end the quoted string the sink interpolates into its SQL (SQL injection)"
	refusedSets   = "big5, cp932, gb2312, gb18030, gbk and sjis"
)

// checkCharset refuses a DSN whose connection character set or collation
// makes client-side interpolation unsafe. Its errors name the parameter and
// its value, never the rest of the DSN.
func checkCharset(dsn string, dc *mysql.Config) error {
	for _, value := range dsnParamValues(dsn, "charset") {
		for _, cs := range strings.Split(value, ",") {
			if !charsetName.MatchString(cs) {
				return fmt.Errorf("charset %q is not a plain character set name; leave charset out or set charset=utf8mb4", cs)
			}
			if unsafeCharsets[strings.ToLower(cs)] {
				return fmt.Errorf("charset %s is refused: %s; the sink refuses %s: leave charset out or set charset=utf8mb4", cs, injectionRisk, refusedSets)
			}
			if !strings.EqualFold(cs, "utf8mb4") {
				return fmt.Errorf("charset %s is refused: %s; leave charset out or set charset=utf8mb4", cs, notUTF8MB4)
			}
		}
	}
	if c := dc.Collation; c != "" {
		lower := strings.ToLower(c)
		if !charsetName.MatchString(c) {
			return fmt.Errorf("collation %q is not a plain collation name; leave collation out or use a utf8mb4 collation", c)
		}
		if unsafeCollations[lower] || unsafeCharsets[strings.SplitN(lower, "_", 2)[0]] {
			return fmt.Errorf("collation %s is refused: %s; the sink refuses the collations of %s: leave collation out or use a utf8mb4 collation", c, injectionRisk, refusedSets)
		}
		if !strings.HasPrefix(lower, "utf8mb4_") {
			return fmt.Errorf("collation %s is refused: %s; leave collation out or use a utf8mb4 collation", c, notUTF8MB4)
		}
	}
	for name := range dc.Params {
		// The driver sends each parameter as `SET name=value`, name as it
		// is: @@character_set_client, `character_set_client` or a comment
		// before it would set the variable past the list below.
		if !charsetName.MatchString(name) {
			return fmt.Errorf("parameter %q is refused: the sink takes only plain system variable names as DSN parameters (character_set_client, not @@character_set_client), and the character set only as charset= (leave it out or set charset=utf8mb4)", name)
		}
		if sessionCharsetVariables[strings.ToLower(name)] {
			return fmt.Errorf("parameter %s is refused: it would change the connection's character set past the sink's check; set charset= instead (leave it out or set charset=utf8mb4)", name)
		}
	}
	return nil
}

// dsnParamValues returns every raw value of key among the DSN's parameters,
// found the way mysql.ParseDSN finds them: after the first '?' that follows
// the last '/'. The driver keeps charset= to itself, unexported.
func dsnParamValues(dsn, key string) []string {
	slash := strings.LastIndexByte(dsn, '/')
	if slash < 0 {
		return nil
	}
	_, params, ok := strings.Cut(dsn[slash+1:], "?")
	if !ok {
		return nil
	}
	var values []string
	for _, kv := range strings.Split(params, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			values = append(values, v)
		}
	}
	return values
}
