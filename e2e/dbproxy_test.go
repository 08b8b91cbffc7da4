package e2e

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/kappa-stream/kappa/internal/testenv"
)

// dbProxy stands between the runtime's sink and MariaDB and makes the
// database go away without touching the server that every other test
// uses: during an outage it cuts every connection and resets new ones as
// soon as they are accepted, as a host that went down and came back
// would. An outage starts when the test says so, or when a client sends a
// statement that contains a given text, so that it can begin at an exact
// point of the sink's work (say, its first read of the positions).
type dbProxy struct {
	ln     net.Listener
	target string

	mu        sync.Mutex
	conns     map[net.Conn]bool
	downUntil time.Time
	// triggers start outages, each once, in order: the first one's text
	// is looked for until it is seen, then the next one's.
	triggers []outageTrigger
	outages  int
	wg       sync.WaitGroup
}

type outageTrigger struct {
	text []byte
	down time.Duration
}

// startDBProxy listens on a free loopback port and forwards to MariaDB
// until the test ends.
func startDBProxy(t *testing.T) *dbProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dbProxy{ln: ln, target: testenv.MySQLAddr(), conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *dbProxy) addr() string { return p.ln.Addr().String() }

// outageOn makes the proxy go down for d the first time a client sends a
// packet holding text (after the outages armed before have begun). The
// packet is not forwarded.
func (p *dbProxy) outageOn(text string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.triggers = append(p.triggers, outageTrigger{[]byte(text), d})
}

// outage cuts every connection now and refuses new ones for d.
func (p *dbProxy) outage(d time.Duration) {
	p.mu.Lock()
	p.downUntil = time.Now().Add(d)
	p.outages++
	p.mu.Unlock()
	p.cut()
}

// outagesBegun counts the outages so far.
func (p *dbProxy) outagesBegun() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outages
}

func (p *dbProxy) down() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Now().Before(p.downUntil)
}

// cut closes every connection, client and server sides, resetting them.
func (p *dbProxy) cut() {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[net.Conn]bool{}
	p.mu.Unlock()
	for c := range conns {
		reset(c)
	}
}

// forget drops a closed connection from those an outage cuts.
func (p *dbProxy) forget(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// reset closes c with a TCP reset rather than an orderly close.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func (p *dbProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed when the test ends
		}
		if p.down() {
			reset(client)
			continue
		}
		server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			reset(client)
			continue
		}
		p.mu.Lock()
		p.conns[client], p.conns[server] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			p.forward(server, client)
			p.forget(server)
		}()
		go func() {
			defer p.wg.Done()
			io.Copy(client, server)
			reset(client)
			p.forget(client)
		}()
	}
}

// forward copies what the client sends to the server, watching for the
// next trigger's text. A statement is one packet the driver writes at
// once, so it arrives in one read unless it is larger than the buffer.
func (p *dbProxy) forward(server, client net.Conn) {
	defer reset(server)
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			if d, hit := p.triggered(buf[:n]); hit {
				p.outage(d)
				return
			}
			if _, werr := server.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// triggered reports whether data holds the next trigger's text, consuming
// the trigger, and for how long the outage it starts lasts.
func (p *dbProxy) triggered(data []byte) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.triggers) == 0 || time.Now().Before(p.downUntil) || !bytes.Contains(data, p.triggers[0].text) {
		return 0, false
	}
	d := p.triggers[0].down
	p.triggers = p.triggers[1:]
	return d, true
}

// dsn is the test account's DSN for database, through the proxy.
func (p *dbProxy) dsn(t *testing.T, database string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(testenv.MySQLDSN(database))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = p.addr()
	return cfg.FormatDSN()
}
