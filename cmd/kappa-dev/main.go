// Command kappa-dev is the development companion of Kappa:
//
//	kappa-dev broker --addr 127.0.0.1:9092 --topic twitter --partitions 8 [--data-dir DIR] [--max-message-bytes N]
//	kappa-dev tweets --brokers 127.0.0.1:9092 --topic twitter --count N --truth FILE [...]
//
// `broker` serves a one-broker Kafka-protocol cluster until SIGINT/SIGTERM;
// `tweets` writes a simulated Twitter stream into a topic together with the
// ground truth of tweets per UTC minute.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kappa-stream/kappa/internal/devbroker"
	"github.com/kappa-stream/kappa/internal/firehose"
)

const usage = `usage:
  kappa-dev broker --addr 127.0.0.1:9092 --topic twitter --partitions 8 [--data-dir DIR] [--max-message-bytes N]
  kappa-dev tweets --brokers 127.0.0.1:9092 --topic twitter --count N --truth FILE [flags]
run "kappa-dev <command> -h" for a command's flags`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "broker":
		err = runBroker(ctx, args, os.Stdout)
	case "tweets":
		err = runTweets(ctx, args, os.Stdout)
	case "-h", "-help", "--help", "help":
		fmt.Println(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "kappa-dev: unknown command %q\n%s\n", cmd, usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kappa-dev %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func runBroker(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	var cfg devbroker.Config
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:9092", "`host:port` to listen on")
	fs.StringVar(&cfg.Topic, "topic", "twitter", "topic to create")
	partitions := fs.Int("partitions", 8, "partitions of the topic")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory for the log, kept on exit (default: a temporary directory, removed on exit)")
	fs.IntVar(&cfg.MaxMessageBytes, "max-message-bytes", 0, "largest record batch a producer may write, the broker's message.max.bytes (default 1048588)")
	fs.DurationVar(&cfg.GroupMinSessionTimeout, "group-min-session-timeout", 0, "smallest session timeout a classic consumer-group member may ask for (default 6s); lower it to see dead members' partitions move sooner")
	fs.DurationVar(&cfg.GroupConsumerSessionTimeout, "group-consumer-session-timeout", 0, "session timeout of KIP-848 consumer groups, group.consumer.session.timeout.ms (default 45s)")
	fs.DurationVar(&cfg.GroupConsumerHeartbeat, "group-consumer-heartbeat", 0, "heartbeat interval of KIP-848 consumer groups, group.consumer.heartbeat.interval.ms (default 5s)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.Partitions = int32(*partitions)

	b, err := devbroker.Start(cfg)
	if err != nil {
		return err
	}
	// A reused data dir keeps the topic as it was created: print what is served.
	fmt.Fprintf(stdout, "broker listening on %s (topic %s, %d partitions, data dir %s)\n",
		b.Addr(), cfg.Topic, b.Partitions(cfg.Topic), b.DataDir())
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "kappa-dev broker: shutting down")
	return b.Close()
}

func runTweets(ctx context.Context, args []string, stdout io.Writer) error {
	now := time.Now()
	def := firehose.DefaultConfig(now)
	fs := flag.NewFlagSet("tweets", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated seed `brokers`")
	topic := fs.String("topic", "twitter", "topic to write to")
	truthPath := fs.String("truth", "", "`file` for the ground truth CSV minute,count (required)")
	langPath := fs.String("truth-lang", "", "`file` for the ground truth CSV minute,lang,count")
	rate := fs.Float64("rate", 0, "records per second; 0 writes as fast as possible")
	malformedPath := fs.String("malformed", "", "`file` for the malformed records produced, one JSON object a line: partition, offset, malformation, value (base64)")
	start := fs.String("start", "", "simulated start instant, RFC 3339 (default: now truncated to the minute minus 3h)")
	cfg := def
	fs.IntVar(&cfg.Tweets, "count", 0, "number of valid tweets (required)")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "random seed (default: time-based, printed)")
	fs.IntVar(&cfg.PerMinute, "per-minute", def.PerMinute, "tweets per minute of simulated time")
	fs.Float64Var(&cfg.LateFrac, "late-frac", def.LateFrac, "fraction of tweets arriving late")
	fs.DurationVar(&cfg.MaxLate, "max-late", def.MaxLate, "how far behind the simulated now an event time may lie")
	fs.Float64Var(&cfg.NoticeFrac, "notice-frac", def.NoticeFrac, "stream notices, as a fraction of --count, in addition")
	fs.Float64Var(&cfg.MalformedFrac, "malformed-frac", def.MalformedFrac, "malformed records, as a fraction of --count, in addition")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !flagSet(fs, "seed") {
		cfg.Seed = def.Seed
	}
	if *start != "" {
		t, err := time.Parse(time.RFC3339, *start)
		if err != nil {
			return fmt.Errorf("--start: %w", err)
		}
		cfg.Start = t.UTC()
	}
	if *truthPath == "" {
		return errors.New("--truth is required")
	}
	if !flagSet(fs, "count") {
		return errors.New("--count is required")
	}
	gen, err := firehose.New(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "kappa-dev tweets: seed %d, start %s, %d tweets to %s on %s\n",
		cfg.Seed, cfg.Start.Format(time.RFC3339), cfg.Tweets, *topic, *brokers)

	seeds := strings.Split(*brokers, ",")
	client, err := kgo.NewClient(append(firehose.ProducerOpts(*topic), kgo.SeedBrokers(seeds...))...)
	if err != nil {
		return fmt.Errorf("kafka client for %s: %w", *brokers, err)
	}
	defer client.Close()
	if err := checkTopic(ctx, client, *brokers, *topic); err != nil {
		return err
	}

	var onMalformed func(firehose.Produced)
	var malformed []firehose.Produced
	if *malformedPath != "" {
		onMalformed = func(p firehose.Produced) { malformed = append(malformed, p) }
	}
	res, produceErr := firehose.ProduceWith(ctx, client, gen, *rate, onMalformed)
	if produceErr != nil {
		return produceErr
	}
	if *malformedPath != "" {
		if err := writeFile(*malformedPath, func(w io.Writer) error { return writeMalformed(w, malformed) }); err != nil {
			return err
		}
	}
	truth := gen.Truth()
	if err := writeFile(*truthPath, truth.WriteMinutes); err != nil {
		return err
	}
	if *langPath != "" {
		if err := writeFile(*langPath, truth.WriteLangs); err != nil {
			return err
		}
	}

	secs := res.Elapsed.Seconds()
	fmt.Fprintf(os.Stderr, "kappa-dev tweets: %d records in %.2fs (%.0f records/s, %.1f MB/s, %.0f bytes per record)\n",
		res.Records(), secs, float64(res.Records())/secs, float64(res.Bytes)/secs/1e6, float64(res.Bytes)/float64(max(res.Records(), 1)))
	summary, err := json.Marshal(struct {
		Seed      uint64  `json:"seed"`
		Tweets    int     `json:"tweets"`
		Notices   int     `json:"notices"`
		Malformed int     `json:"malformed"`
		Late      int     `json:"late"`
		Records   int     `json:"records"`
		Minutes   int     `json:"minutes"`
		Seconds   float64 `json:"seconds"`
		Bytes     int64   `json:"bytes"`
	}{cfg.Seed, res.Tweets, res.Notices, res.Malformed, res.Late, res.Records(), len(truth.Minutes()), secs, res.Bytes})
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%s\n", summary)
	return err
}

// checkTopic fails fast, naming the address, when no broker answers, and
// names the topic when it does not exist; kgo would otherwise retry
// quietly until records time out.
func checkTopic(ctx context.Context, client *kgo.Client, brokers, topic string) error {
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx); err != nil {
		return fmt.Errorf("broker %s unreachable: %w", brokers, err)
	}
	topics, err := kadm.NewClient(client).ListTopics(pingCtx, topic)
	if err != nil {
		return fmt.Errorf("list topics on %s: %w", brokers, err)
	}
	td, ok := topics[topic]
	if !ok {
		return fmt.Errorf("topic %q does not exist on %s", topic, brokers)
	}
	if td.Err != nil {
		return fmt.Errorf("topic %q on %s: %w", topic, brokers, td.Err)
	}
	fmt.Fprintf(os.Stderr, "kappa-dev tweets: topic %s has %d partitions\n", topic, len(td.Partitions))
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// writeMalformed writes one JSON object per malformed record, in the
// order of partition and offset.
func writeMalformed(w io.Writer, records []firehose.Produced) error {
	slices.SortFunc(records, func(a, b firehose.Produced) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	enc := json.NewEncoder(w)
	for _, r := range records {
		line := struct {
			Partition    int32  `json:"partition"`
			Offset       int64  `json:"offset"`
			Malformation string `json:"malformation"`
			Value        []byte `json:"value"`
		}{r.Partition, r.Offset, r.Malformation.String(), r.Value}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	return nil
}
