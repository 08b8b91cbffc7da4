package mysqlsink

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/kappa-stream/kappa/internal/sinkconfig"
	"github.com/kappa-stream/kappa/sdk"
)

// Config is the sink's `config:` block in a pipeline file.
type Config struct {
	// DSN is a go-sql-driver/mysql data source name, for example
	// `root@tcp(127.0.0.1:3306)/aggregates`. It must name the database; the
	// database is created when missing. The sink forces loc=UTC,
	// parseTime=true, interpolateParams=true and clientFoundRows=true, and
	// a dial timeout of 5s unless the DSN sets `timeout`. It refuses a
	// charset or collation in which interpolation is unsafe (big5, cp932,
	// gb2312, gb18030, gbk, sjis; see charset.go). Required.
	DSN string `yaml:"dsn" required:"true" doc:"go-sql-driver/mysql DSN naming the database, e.g. root@tcp(127.0.0.1:3306)/aggregates; the database is created when missing; a charset or collation other than utf8mb4 is refused (leave them out)"`
	// The tables and the dead-letter keys, as in the other SQL sink.
	sinkconfig.Tables `yaml:",inline"`
}

const (
	// defaultDialTimeout bounds how long Open waits for a TCP connection, so
	// that an unreachable server fails in seconds rather than minutes.
	defaultDialTimeout = 5 * time.Second
)

// DefaultConfig returns a Config holding every default, ready to decode into.
func DefaultConfig() Config {
	return Config{Tables: sinkconfig.DefaultTables()}
}

// ParseConfig decodes a config block strictly, applying defaults first.
func ParseConfig(raw []byte) (Config, error) {
	cfg := DefaultConfig()
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// identifierPattern admits names that need no quoting in MySQL. Names are
// still always quoted; the pattern keeps anything odd out of SQL text.
var identifierPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]{0,63}$`)

// checkIdentifier explains why name cannot be a database, table or column name.
func checkIdentifier(name string) error {
	if name == "" {
		return fmt.Errorf("must not be empty")
	}
	if !identifierPattern.MatchString(name) {
		return fmt.Errorf("%q is not a valid name (letters, digits, _ and $, not starting with a digit, at most 64 characters)", name)
	}
	return nil
}

// Validate reports every problem at once, each at its key.
func (c *Config) Validate() error {
	var errs sdk.ConfigErrors
	if c.DSN == "" {
		errs = append(errs, sdk.ConfigError{Path: "dsn", Message: "must not be empty (e.g. root@tcp(127.0.0.1:3306)/aggregates)"})
	} else if _, err := c.driverConfig(); err != nil {
		errs = append(errs, sdk.ConfigError{Path: "dsn", Message: err.Error()})
	}
	// Table names are case-sensitive on Linux and not elsewhere; treat
	// them as the same table to be safe on both.
	errs = append(errs, c.Tables.Check(checkIdentifier, strings.ToLower)...)
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// driverConfig parses the DSN and forces the settings the sink relies on.
// Its errors never hold the password.
func (c *Config) driverConfig() (*mysql.Config, error) {
	dc, err := mysql.ParseDSN(c.DSN)
	if err != nil {
		return nil, fmt.Errorf("invalid DSN: %s", redact(err.Error(), dsnPassword(c.DSN)))
	}
	if dc.DBName == "" {
		return nil, fmt.Errorf("must name a database, e.g. root@tcp(127.0.0.1:3306)/aggregates")
	}
	if err := checkIdentifier(dc.DBName); err != nil {
		return nil, fmt.Errorf("database name: %w", err)
	}
	if err := checkCharset(c.DSN, dc); err != nil {
		return nil, err
	}
	// Windows are UTC DATETIMEs: the driver must neither shift nor guess.
	dc.Loc = time.UTC
	dc.ParseTime = true
	// One round trip per statement instead of prepare + execute + close.
	dc.InterpolateParams = true
	// The fenced UPDATE checks RowsAffected; count matched rows, not changed
	// ones, so the check means "the position was Start" and nothing else.
	dc.ClientFoundRows = true
	if dc.Timeout == 0 {
		dc.Timeout = defaultDialTimeout
	}
	return dc, nil
}

// dsnPassword finds the password the way mysql.ParseDSN does (between the
// first ':' and the last '@' before the last '/'), so that it can be removed
// from messages even when the DSN does not parse.
func dsnPassword(dsn string) string {
	slash := strings.LastIndexByte(dsn, '/')
	if slash < 0 {
		slash = len(dsn)
	}
	at := strings.LastIndexByte(dsn[:slash], '@')
	if at < 0 {
		return ""
	}
	colon := strings.IndexByte(dsn[:at], ':')
	if colon < 0 {
		return ""
	}
	return dsn[colon+1 : at]
}

// redact removes password from msg.
func redact(msg, password string) string {
	if password == "" {
		return msg
	}
	return strings.ReplaceAll(msg, password, "xxxxx")
}
