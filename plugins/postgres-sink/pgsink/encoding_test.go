package pgsink

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/internal/testenv"
	"github.com/kappa-stream/kappa/sdk"
)

// Values cross as UTF-8 text, which the server converts from the
// connection's client_encoding: a DSN setting another one had dimension
// values stored converted (wéb as wÃ©b). The sink refuses a DSN that
// names another client_encoding, and its connections run in UTF8
// whatever else asks for another (options=-c client_encoding=…).
func TestClientEncodingIsUTF8(t *testing.T) {
	database, conn := testDatabase(t)
	ctx := context.Background()
	for _, c := range []struct{ param, refused string }{
		{param: "client_encoding=LATIN1", refused: "client_encoding LATIN1 is refused"},
		{param: "options=-c%20client_encoding%3DLATIN1"},
		{param: "client_encoding=utf-8"},
	} {
		t.Run(c.param, func(t *testing.T) {
			u, _ := url.Parse(testenv.PostgresDSN(database))
			u.RawQuery = c.param
			s := New()
			err := s.Open(ctx, sdk.Setup{Pipeline: "tweets", Window: time.Minute, Dimensions: []string{"lang", "source"},
				Config: []byte("dsn: '" + u.String() + "'\ntable: twitter\n")})
			if c.refused != "" {
				if err == nil {
					s.Close(ctx)
					t.Fatalf("Open with %s succeeded, want it refused", c.param)
				}
				if !strings.Contains(err.Error(), c.refused) {
					t.Errorf("Open with %s: %v, want %q", c.param, err, c.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(ctx)
			defer conn.Exec(ctx, `DROP SCHEMA aggregates CASCADE`)
			r := sdk.OffsetRange{Partition: 0, Start: 0, End: 1}
			if err := s.Commit(ctx, sdk.Commit{Stream: "twitter", Ranges: []sdk.RangeStats{{OffsetRange: r, Records: 1, Facts: 1}},
				Rows: []sdk.Row{{OffsetRange: r, Window: minute, Count: 1, Dims: []string{"en", "wéb"}}}}); err != nil {
				t.Fatal(err)
			}
			var source string
			if err := conn.QueryRow(ctx, `SELECT source FROM aggregates.twitter`).Scan(&source); err != nil {
				t.Fatal(err)
			}
			if source != "wéb" {
				t.Errorf("with %s the sink stored source %q, want %q", c.param, source, "wéb")
			}
		})
	}
}
