package mysqlsink

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// gbkInjection is a dimension value that, on a gbk connection, adds a row of
// its own. Interpolation escapes its quote as 5c 27 after "縗" (e7 b8 97);
// gbk reads e7 b8 and then 97 5c as characters, so the quote ends the
// string and the rest runs as SQL: a second row (lang 0x696e6a6563746564
// is "injected"), then a comment over the statement's closing quote.
const gbkInjection = "縗'), (0, 1, 20160601193600, 99, 7, 0x696e6a6563746564)#"

// A DSN that would put the connection in gbk, by charset= or by a
// session variable the driver sets with the name as given, is refused
// before anything is created.
func TestOpenRefusesACharsetUnsafeForInterpolation(t *testing.T) {
	for _, c := range []struct{ param, refused string }{
		{"?charset=gbk", "charset gbk is refused"},
		{"?@@character_set_client=gbk", `parameter "@@character_set_client" is refused`},
	} {
		t.Run(c.param, func(t *testing.T) {
			db, admin := testDatabase(t)
			setup := sdk.Setup{Pipeline: "p", Window: time.Minute, Config: sinkConfig(db, c.param), Dimensions: []string{"lang"}}
			s := New()
			err := s.Open(context.Background(), setup)
			if err == nil {
				defer s.Close(context.Background())
				cm := rangeCommit(0, 0, 10, 1)
				cm.Rows[0].Dims = []string{gbkInjection}
				cerr := s.Commit(context.Background(), cm)
				n := countRows(t, admin, "SELECT count(*) FROM "+quoteIdent(db)+".twitter")
				injected := countRows(t, admin, "SELECT count(*) FROM "+quoteIdent(db)+".twitter WHERE lang = 'injected'")
				t.Fatalf("Open accepted %s; one row committed (err %v), the table holds %d rows, %d of them injected", c.param, cerr, n, injected)
			}
			t.Log(err)
			for _, part := range []string{c.refused, "utf8mb4"} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error does not mention %s: %v", part, err)
				}
			}
			if n := countRows(t, admin, "SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", db); n != 0 {
				t.Errorf("the refused Open created database %s", db)
			}
		})
	}
}
