package pgsink

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kappa-stream/kappa/internal/sinkconfig"
	"github.com/kappa-stream/kappa/sdk"
)

// Config is the sink's `config:` block in a pipeline file.
type Config struct {
	// DSN is a libpq connection string (URL or key=value), for example
	// `postgres://postgres@127.0.0.1:5432/postgres`. The database must
	// exist; the schema and the tables are created in it when missing.
	// Required.
	DSN string `yaml:"dsn" required:"true" doc:"libpq connection string (URL or key=value) of an existing database, e.g. postgres://postgres@127.0.0.1:5432/postgres; the schema and tables are created in it when missing"`
	// Schema holds every table of the sink. Default "aggregates", so that
	// the original query names aggregates.twitter.
	Schema string `yaml:"schema" doc:"the schema holding every table of the sink, created when missing"`
	// The tables and the dead-letter keys, as in the other SQL sink.
	sinkconfig.Tables `yaml:",inline"`
}

const (
	defaultSchema = "aggregates"
	// defaultConnectTimeout bounds how long a connection attempt waits, so
	// that an unreachable server fails in seconds rather than minutes.
	defaultConnectTimeout = 5 * time.Second
)

// DefaultConfig returns a Config holding every default, ready to decode into.
func DefaultConfig() Config {
	return Config{Schema: defaultSchema, Tables: sinkconfig.DefaultTables()}
}

// ParseConfig decodes a config block strictly, applying defaults first.
func ParseConfig(raw []byte) (Config, error) {
	cfg := DefaultConfig()
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// identifierPattern admits lower-case names of at most 63 bytes (PostgreSQL's
// NAMEDATALEN - 1). Names are always quoted; lower case keeps them the
// names an unquoted query means (PostgreSQL folds those to lower case), so
// that `SELECT … FROM aggregates.twitter` in psql finds the table.
var identifierPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// checkIdentifier explains why name cannot be a schema, table or column name.
func checkIdentifier(name string) error {
	if name == "" {
		return fmt.Errorf("must not be empty")
	}
	if !identifierPattern.MatchString(name) {
		return fmt.Errorf("%q is not a valid name (lower-case letters, digits and _, not starting with a digit, at most 63 characters)", name)
	}
	return nil
}

// Validate reports every problem at once, each at its key.
func (c *Config) Validate() error {
	var errs sdk.ConfigErrors
	if c.DSN == "" {
		errs = append(errs, sdk.ConfigError{Path: "dsn", Message: "must not be empty (e.g. postgres://postgres@127.0.0.1:5432/postgres)"})
	} else if _, err := c.poolConfig(); err != nil {
		errs = append(errs, sdk.ConfigError{Path: "dsn", Message: err.Error()})
	}
	if err := checkIdentifier(c.Schema); err != nil {
		errs = append(errs, sdk.ConfigError{Path: "schema", Message: err.Error()})
	}
	errs = append(errs, c.Tables.Check(checkIdentifier, nil)...)
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// poolConfig parses the DSN and sets what the sink relies on. Its errors
// never hold the password.
func (c *Config) poolConfig() (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(c.DSN)
	if err != nil {
		return nil, fmt.Errorf("invalid DSN: %s", redact(err.Error(), dsnPassword(c.DSN)))
	}
	if pc.ConnConfig.Database == "" {
		return nil, fmt.Errorf("must name a database, e.g. postgres://postgres@127.0.0.1:5432/postgres")
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	// Commits are serial; a few connections leave room for Positions, the
	// status page's reads and a Close that races a Commit.
	pc.MaxConns = 4
	pc.MaxConnIdleTime = 5 * time.Minute
	// Windows are timestamps without time zone holding UTC; the sink never
	// reads a timestamptz, but a session in UTC keeps now() and casts
	// honest for anyone reading through the same connections.
	pc.ConnConfig.RuntimeParams["timezone"] = "UTC"
	// Values cross as UTF-8 text, which the server converts from the
	// connection's client_encoding: in another encoding dimension values
	// would be stored converted as if they were in it (é as Ã©), or a
	// commit would fail for good on bytes that encoding does not have.
	if enc, ok := pc.ConnConfig.RuntimeParams["client_encoding"]; ok && !isUTF8(enc) {
		return nil, fmt.Errorf("client_encoding %s is refused: %s; leave client_encoding out or set client_encoding=UTF8", enc, notUTF8)
	}
	// Set, it also overrides an options=-c client_encoding=… of the DSN
	// (the server applies those first) and any role or database default.
	pc.ConnConfig.RuntimeParams["client_encoding"] = "UTF8"
	return pc, nil
}

const notUTF8 = "the sink sends UTF-8 and a connection in another encoding would store dimension values converted as if they were in that encoding"

// isUTF8 reports whether PostgreSQL takes name for UTF8, whose spellings
// it compares lower-cased without punctuation (utf8, UTF-8, unicode).
func isUTF8(name string) bool {
	clean := strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return -1
	}, name)
	return clean == "utf8" || clean == "unicode"
}

// dsnPassword finds the password in a URL or key=value DSN, so that it can
// be removed from messages even when the DSN does not parse.
func dsnPassword(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			return p
		}
		return ""
	}
	// key=value form: password=secret or password='se cret'
	i := strings.Index(dsn, "password=")
	if i < 0 {
		return ""
	}
	rest := dsn[i+len("password="):]
	if strings.HasPrefix(rest, "'") {
		if end := strings.IndexByte(rest[1:], '\''); end >= 0 {
			return rest[1 : 1+end]
		}
		return rest[1:]
	}
	if end := strings.IndexAny(rest, " \t"); end >= 0 {
		return rest[:end]
	}
	return rest
}

// redact removes password from msg, in the forms a URL may carry it too.
func redact(msg, password string) string {
	if password == "" {
		return msg
	}
	for _, p := range []string{password, url.PathEscape(password), url.QueryEscape(password), url.UserPassword("", password).String()[1:]} {
		if p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}
