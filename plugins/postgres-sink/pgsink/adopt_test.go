package pgsink

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kappa-stream/kappa/sdk"
)

// The 2016 job wrote MySQL only: opened to adopt (kappa-runtime adopt),
// postgres-sink refuses at once, permanently, saying so, before it
// connects (nothing listens on port 1) and with no password in the
// message.
func TestOpenToAdoptSaysItIsMySQLOnly(t *testing.T) {
	s := New()
	err := s.Open(context.Background(), sdk.Setup{Pipeline: "twitter", Adopting: true,
		Config: []byte("dsn: 'postgres://kappa:s3cr3t@127.0.0.1:1/postgres'\ntable: twitter\n")})
	if err == nil {
		s.Close(context.Background())
		t.Fatal("opened to adopt")
	}
	if !strings.Contains(err.Error(), "adopting a table another program wrote is MySQL-only (the 2016 job wrote MySQL)") ||
		!errors.Is(err, sdk.ErrPermanent) || strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "connect") {
		t.Errorf("open to adopt: %v, want a permanent MySQL-only refusal before connecting", err)
	}
}
