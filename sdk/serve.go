package sdk

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/kappa-stream/kappa/internal/arena"
	"github.com/kappa-stream/kappa/internal/grpcopts"
	"github.com/kappa-stream/kappa/internal/profile"
	"github.com/kappa-stream/kappa/internal/rpc"
	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
)

// Plugin kinds, as dispensed by the runtime.
const (
	KindSource    = "source"
	KindExtractor = "extractor"
	KindSink      = "sink"
)

// maxMessageBytes bounds one batch on the wire. The runtime bounds batches
// by bytes far below this; gRPC's default of 4 MB is too small for them.
const maxMessageBytes = 1 << 30

// The runtime dispenses its clients from pluginSet, through
// internal/pluginclient; plugin authors never see it.
func init() { rpc.NewPluginSet = pluginSet }

// pluginSet is the go-plugin plugin set the runtime dispenses from.
// shared, when not nil, is the arena the runtime shares with its source
// and extractor processes; a source client lends its slots to Polls.
func pluginSet(shared *arena.Arena) plugin.PluginSet {
	return plugin.PluginSet{
		KindSource:    &sourcePlugin{arena: shared},
		KindExtractor: &extractorPlugin{},
		KindSink:      &sinkPlugin{},
	}
}

// ServeSource serves s as a plugin process until the runtime stops it.
// Call it from main and do nothing else there: stdout belongs to the
// handshake; log to stderr.
func ServeSource(s Source) {
	serve(KindSource, &sourcePlugin{impl: s, arena: mapArena(true)})
}

// ServeExtractor serves e as a plugin process; see ServeSource.
func ServeExtractor(e Extractor, opts ...ExtractorOption) {
	p := &extractorPlugin{impl: e, arena: mapArena(false), share: 1}
	for _, o := range opts {
		o(p)
	}
	serve(KindExtractor, p)
}

// ExtractorOption changes how ServeExtractor serves an extractor.
type ExtractorOption func(*extractorPlugin)

// ConcurrentExtract declares that the extractor's Extract may run on
// several goroutines at once, each call with its own records and
// Extraction. The SDK then splits a large batch into one share per core
// (GOMAXPROCS), extracts the shares at once and joins their outcomes in
// record order: the same outcomes as one call, sooner when a core is free.
func ConcurrentExtract() ExtractorOption {
	return func(p *extractorPlugin) { p.share = runtime.GOMAXPROCS(0) }
}

// mapArena maps the arena the runtime passed this process, if any. A
// plugin that cannot map it cannot read or write the batches the runtime
// will send, so it ends before the handshake, saying why.
func mapArena(writable bool) *arena.Arena {
	a, err := arena.FromEnv(writable)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kappa plugin:", err)
		os.Exit(1)
	}
	return a
}

// ServeSink serves s as a plugin process; see ServeSource.
func ServeSink(s Sink) { serve(KindSink, &sinkPlugin{impl: s}) }

// stopProfile ends the profiles profile.Start began in serve; the process
// usually ends in exitOnDisconnect, which must write them first.
var stopProfile = func() {}

func serve(kind string, p plugin.Plugin) {
	stopProfile = profile.Start(filepath.Base(os.Args[0]))
	defer stopProfile()
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: rpc.Handshake,
		Plugins:         plugin.PluginSet{kind: p},
		Logger:          hclog.New(&hclog.LoggerOptions{Name: kind, Output: os.Stderr, JSONFormat: true, Level: hclog.Info}),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpcopts.Server()...)
			return grpc.NewServer(append(opts,
				grpc.MaxRecvMsgSize(maxMessageBytes),
				grpc.MaxSendMsgSize(maxMessageBytes),
				grpc.StatsHandler(exitOnDisconnect{}),
			)...)
		},
	})
}

// exitOnDisconnect ends the plugin process when the runtime's connection
// ends. A runtime killed with SIGKILL cannot stop its plugins, and a plugin
// left running would keep its connections, transactions and locks.
type exitOnDisconnect struct{}

func (exitOnDisconnect) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return ctx
}
func (exitOnDisconnect) HandleRPC(context.Context, stats.RPCStats) {}
func (exitOnDisconnect) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (exitOnDisconnect) HandleConn(_ context.Context, s stats.ConnStats) {
	if _, ok := s.(*stats.ConnEnd); ok {
		stopProfile()
		removeSocket()
		os.Exit(0)
	}
}

// removeSocket unlinks the unix socket this process listens on, which
// go-plugin removes only when its listener closes, and an exit does not
// close it. go-plugin makes the socket, named plugin and digits, in
// PLUGIN_UNIX_SOCKET_DIR, a folder of this process's own: the runtime
// (and go-plugin's own runners) make one per plugin process.
func removeSocket() {
	dir := os.Getenv(plugin.EnvUnixSocketDir)
	if dir == "" {
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Type()&fs.ModeSocket != 0 && strings.HasPrefix(e.Name(), "plugin") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// The go-plugin glue, one type per kind: the server half delegates to the
// plain Go implementation, the client half implements the same interface
// over gRPC for the runtime.

// sourcePlugin's and extractorPlugin's arena is the process's mapping of
// the runtime's arena in a plugin, and the runtime's arena in the runtime.
type sourcePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl  Source
	arena *arena.Arena
}

func (p *sourcePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(sourceService, &sourceServer{impl: p.impl, arena: p.arena})
	return nil
}

func (p *sourcePlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &sourceClient{rpc: pb.NewSourceClient(c), conn: c, arena: p.arena}, nil
}

type extractorPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl  Extractor
	arena *arena.Arena
	// share is how many calls of Extract a batch may be split into (1:
	// none; see ConcurrentExtract).
	share int
}

func (p *extractorPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(extractorService, &extractorServer{impl: p.impl, arena: p.arena, decoder: batchDecoder{reuse: true}, shares: make([]Extraction, max(p.share, 1))})
	return nil
}

func (p *extractorPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &extractorClient{rpc: pb.NewExtractorClient(c), conn: c}, nil
}

type sinkPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl Sink
}

func (p *sinkPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterSinkServer(s, &sinkServer{impl: p.impl})
	return nil
}

func (p *sinkPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &sinkClient{rpc: pb.NewSinkClient(c)}, nil
}

var (
	_ plugin.GRPCPlugin = (*sourcePlugin)(nil)
	_ plugin.GRPCPlugin = (*extractorPlugin)(nil)
	_ plugin.GRPCPlugin = (*sinkPlugin)(nil)
)
