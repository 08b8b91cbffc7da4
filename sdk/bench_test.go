package sdk

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"github.com/kappa-stream/kappa/internal/grpcopts"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// benchBatch is one batch the size the runtime asks for by default (8 MiB
// of ~2.6 KB records) over 8 partitions.
func benchBatch() (Batch, []Record, int64) {
	const partitions, perPartition, size = 8, 400, 2612
	value := make([]byte, size)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	when := time.Date(2016, 6, 1, 19, 36, 0, 0, time.UTC)
	var (
		b     Batch
		all   []Record
		bytes int64
	)
	for p := range int32(partitions) {
		pb := PartitionBatch{OffsetRange: OffsetRange{Partition: p, Start: 0, End: perPartition}, HighWatermark: 1 << 20}
		for o := range int64(perPartition) {
			r := Record{Partition: p, Offset: o, Value: value, Time: when}
			pb.Records = append(pb.Records, r)
			all = append(all, r)
			bytes += size
		}
		b.Partitions = append(b.Partitions, pb)
	}
	return b, all, bytes
}

// dispenseTuned serves p with the same gRPC options as a plugin process
// and dials it as the runtime does, over a unix socket, in this process.
func dispenseTuned(b *testing.B, p plugin.GRPCPlugin) any {
	b.Helper()
	sock := filepath.Join(b.TempDir(), "plugin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer(append(serverOpts(), grpc.MaxRecvMsgSize(maxMessageBytes), grpc.MaxSendMsgSize(maxMessageBytes))...)
	if err := p.GRPCServer(nil, srv); err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("unix://"+sock, append(dialOpts(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)))...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	raw, err := p.GRPCClient(context.Background(), nil, conn)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkPollAcrossGRPC moves one batch from a source plugin's server
// half to the runtime's client half: protobuf both ways and the socket.
//
//	go test -run '^$' -bench GRPC -benchmem ./sdk/
func BenchmarkPollAcrossGRPC(b *testing.B) {
	batch, records, size := benchBatch()
	src := dispenseTuned(b, &sourcePlugin{impl: &echoSource{batch: batch}}).(Source)
	ctx := context.Background()
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		got, err := src.Poll(ctx, Limits{MaxRecords: len(records)})
		if err != nil {
			b.Fatal(err)
		}
		if len(got.Partitions) != len(batch.Partitions) {
			b.Fatalf("%d partitions back, want %d", len(got.Partitions), len(batch.Partitions))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(records)), "ns/record")
}

// BenchmarkExtractAcrossGRPC sends one batch's records to an extractor
// plugin and reads its facts back, the runtime's second crossing.
func BenchmarkExtractAcrossGRPC(b *testing.B) {
	_, records, size := benchBatch()
	x := dispenseTuned(b, &extractorPlugin{impl: lengthExtractor{}}).(Extractor)
	ctx := context.Background()
	var out Extraction
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		if err := x.Extract(ctx, records, &out); err != nil {
			b.Fatal(err)
		}
		if len(out.Facts) != len(records) {
			b.Fatalf("%d facts, want %d", len(out.Facts), len(records))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(records)), "ns/record")
}

// benchDefaultTransport runs the benchmarks with gRPC's default transport
// options instead of internal/grpcopts, for an A/B of the tuning:
//
//	KAPPA_BENCH_DEFAULT_GRPC=1 go test -run '^$' -bench GRPC ./sdk/
var benchDefaultTransport = os.Getenv("KAPPA_BENCH_DEFAULT_GRPC") != ""

func serverOpts() []grpc.ServerOption {
	if benchDefaultTransport {
		return nil
	}
	return grpcopts.Server()
}

func dialOpts() []grpc.DialOption {
	if benchDefaultTransport {
		return nil
	}
	return grpcopts.Dial()
}

// BenchmarkRelayAcrossGRPC is the runtime's part in full: poll a batch
// from a source plugin and forward it, as polled, to an extractor plugin.
// A record crosses two sockets.
func BenchmarkRelayAcrossGRPC(b *testing.B) {
	batch, records, size := benchBatch()
	src := dispenseTuned(b, &sourcePlugin{impl: &echoSource{batch: batch}}).(Source)
	x := dispenseTuned(b, &extractorPlugin{impl: lengthExtractor{}}).(batchExtractor)
	benchRelay(b, src, x, len(records), size, false)
}

// benchRelay polls batches of n records (size bytes) from src and has x
// extract them, as the engine does; inArena says whether their values
// must have gone through the arena.
func benchRelay(b *testing.B, src Source, x batchExtractor, n int, size int64, inArena bool) {
	ctx := context.Background()
	var out Extraction
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		polled, err := src.Poll(ctx, Limits{MaxRecords: n})
		if err != nil {
			b.Fatal(err)
		}
		if inArena && polled.lease == nil {
			b.Fatal("the poll got no arena slot")
		}
		out.Reset()
		if err := x.ExtractBatch(ctx, polled, &out); err != nil {
			b.Fatal(err)
		}
		polled.Release()
		if len(out.Facts) != n {
			b.Fatalf("%d facts, want %d", len(out.Facts), n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}
