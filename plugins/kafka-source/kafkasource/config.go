package kafkasource

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// Values accepted by Config.Start.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// Values accepted by Config.OnOutOfRange.
const (
	OutOfRangeFail = "fail"
	OutOfRangeSkip = "skip"
)

// Values accepted by Config.GroupProtocol.
const (
	GroupClassic  = "classic"
	GroupConsumer = "consumer"
)

// Values accepted by Config.Isolation.
const (
	ReadCommitted   = "read_committed"
	ReadUncommitted = "read_uncommitted"
)

// Config is the source's `config:` block in a pipeline file.
type Config struct {
	// Brokers is a comma-separated list of host:port seed brokers, usually
	// `${KAPPA_BROKERS:-127.0.0.1:9092}`.
	Brokers string `yaml:"brokers" required:"true" doc:"comma-separated host:port seed brokers"`
	// Topic is the Kafka topic read; every one of its partitions is read.
	Topic string `yaml:"topic" required:"true" doc:"the topic read: every partition, also partitions added while running"`
	// Start is where a partition with no committed position begins:
	// "earliest" (the log start, the default) or "latest" (the log end at
	// Seek). Partitions created after Seek are read from their beginning
	// either way, since everything in them is newer than the Seek.
	Start string `yaml:"start" enum:"earliest,latest" doc:"where a partition with no committed position begins: earliest (its log start) or latest (its end: only records written from then on count); resolved when the partition is first read and committed at once as its position"`
	// Isolation is "read_committed" (the default: records of aborted or
	// open transactions are never returned) or "read_uncommitted".
	Isolation string `yaml:"isolation" enum:"read_committed,read_uncommitted" doc:"read_committed (records of aborted transactions are never counted) or read_uncommitted"`
	// ClientID names this client in the brokers' logs and quotas.
	ClientID string `yaml:"client_id" doc:"names this client in the brokers' logs and quotas"`
	// DialTimeout bounds connecting to a broker, and Open as a whole.
	DialTimeout time.Duration `yaml:"dial_timeout" doc:"bounds connecting to a broker, and the start-up check that brokers and topic are there"`
	// OnOutOfRange is what happens when a partition's position is no longer
	// in the log because retention deleted the records there: "fail" (the
	// default) stops with an error naming the partition and offsets; "skip"
	// continues at the log start and hands the deleted offsets on as the
	// range's Lost, so the sink records the gap and the log says so.
	OnOutOfRange string `yaml:"on_out_of_range" enum:"fail,skip" doc:"when retention deleted records before they were read: fail stops the run at once, naming partition and offsets; skip goes on at the log start and records the deleted offsets as the range's lost (in kappa_batches and the log)"`
	// FetchMaxBytes is how much one fetch response may carry; with one fetch
	// in flight per broker it bounds the client's buffered memory. It counts
	// compressed bytes. At the 2 MiB default one fetch carried ~5.8 MB of
	// decoded tweets in make bench, less than a batch's 8 MiB, so Poll waits
	// for the next fetch while a backlog lasts. 4 MiB was ~15% faster in make
	// bench (before Poll waited so) but took the plugin's peak RSS from ~95
	// to ~140 MB (BENCHMARKS.md).
	FetchMaxBytes int64 `yaml:"fetch_max_bytes" doc:"bytes per fetch response, as stored (compressed); it bounds the source's buffered memory"`
	// MonitorGroup, when set, is a consumer group the positions the
	// runtime committed are also committed to, so that Kafka's lag tools
	// (kadm, Burrow, kafka-lag-exporter) see the pipeline's lag. The group
	// is never read back and never joined: the sink stays the truth.
	MonitorGroup string `yaml:"monitor_group" doc:"a consumer group the committed positions are also committed to after each commit, so that Kafka's lag tools see the pipeline's lag; never read back (the sink's positions stay the truth); off when empty"`
	// Group, when set, makes the source a member of this consumer group:
	// the runtimes of one pipeline that name the same group share the
	// topic's partitions (cooperative-sticky), and Kafka moves them when a
	// member dies or joins. Group offsets are never committed or read as
	// positions: the sink's fenced positions stay the truth (group.go).
	Group string `yaml:"group" doc:"a consumer group shared by the runtimes of this pipeline: each reads only the partitions the group assigns it (cooperative-sticky); positions stay in the sink, never in the group; empty: this runtime reads every partition"`
	// GroupProtocol is the group protocol: "classic" (JoinGroup/SyncGroup,
	// the client balances) or "consumer" (KIP-848, the broker balances;
	// Kafka 4.0+).
	GroupProtocol string `yaml:"group_protocol" enum:"classic,consumer" doc:"with group: classic (JoinGroup/SyncGroup, cooperative-sticky in the client) or consumer (KIP-848, the broker assigns; Kafka 4.0+)"`
	// SessionTimeout is how long the group waits for a member's heartbeat
	// before it moves the member's partitions (classic protocol; under
	// KIP-848 the broker's group.consumer.session.timeout.ms rules).
	SessionTimeout time.Duration `yaml:"session_timeout" doc:"with group: how long a silent member keeps its partitions (classic protocol; KIP-848 uses the broker's setting); within the broker's group.min/max.session.timeout.ms"`
	// HeartbeatInterval is how often a member heartbeats (classic).
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval" doc:"with group: how often the member heartbeats (classic protocol); below a third of session_timeout"`
	// RebalanceTimeout bounds a rebalance, including the wait for the
	// runtime to finish its commit in flight before partitions leave: keep
	// it above the pipeline's commit timeout.
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout" doc:"with group: how long a rebalance may wait for members, including the runtime finishing its commit in flight before it lets partitions go; above the pipeline's commit timeout"`
	// StallTimeout is how long the runtime may stop calling the source
	// (an engine that stopped turning) before the source leaves the group,
	// so that the plugin's heartbeats do not keep partitions nobody works
	// on. It rejoins when the runtime calls again.
	StallTimeout time.Duration `yaml:"stall_timeout" doc:"with group: the source leaves the group when the runtime has not called it for this long (a stalled engine must not hold partitions its plugin still heartbeats for); it rejoins at the next call"`
}

// DefaultConfig returns the values a config block starts from.
func DefaultConfig() Config {
	return Config{
		Start:         StartEarliest,
		Isolation:     ReadCommitted,
		OnOutOfRange:  OutOfRangeFail,
		ClientID:      "kappa",
		DialTimeout:   10 * time.Second,
		FetchMaxBytes: 2 << 20,

		GroupProtocol:     GroupClassic,
		SessionTimeout:    10 * time.Second,
		HeartbeatInterval: time.Second,
		RebalanceTimeout:  90 * time.Second,
		StallTimeout:      2 * time.Minute,
	}
}

// ParseConfig decodes a config block over the defaults and validates it.
func ParseConfig(raw []byte) (Config, error) {
	cfg := DefaultConfig()
	if err := sdk.DecodeConfig(raw, &cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// BrokerList returns the seed brokers, trimmed, empty entries dropped.
func (c Config) BrokerList() []string {
	var brokers []string
	for _, b := range strings.Split(c.Brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	return brokers
}

// Validate reports every invalid value at once, each at its key. Required
// keys and the values of start, isolation and on_out_of_range are checked
// by sdk.DecodeConfig from Config's tags.
func (c *Config) Validate() error {
	var errs sdk.ConfigErrors
	add := func(path, format string, args ...any) {
		errs = append(errs, sdk.ConfigError{Path: path, Message: fmt.Sprintf(format, args...)})
	}

	brokers := c.BrokerList()
	if len(brokers) == 0 {
		add("brokers", "must list at least one host:port")
	}
	for _, b := range brokers {
		if err := checkHostPort(b); err != nil {
			add("brokers", "%q: %v", b, err)
		}
	}
	if err := checkTopicName(c.Topic); err != nil {
		add("topic", "%v", err)
	}
	if strings.TrimSpace(c.ClientID) == "" {
		add("client_id", "must not be empty")
	}
	if c.DialTimeout <= 0 {
		add("dial_timeout", "%v is not positive", c.DialTimeout)
	}
	if c.FetchMaxBytes <= 0 || c.FetchMaxBytes > math.MaxInt32 {
		add("fetch_max_bytes", "%d is outside 1..%d", c.FetchMaxBytes, math.MaxInt32)
	}
	if c.Group != "" {
		c.validateGroup(add)
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// validateGroup checks the group's keys against each other; they are only
// read with group set.
func (c *Config) validateGroup(add func(path, format string, args ...any)) {
	if strings.TrimSpace(c.Group) != c.Group {
		add("group", "%q has leading or trailing spaces", c.Group)
	}
	if c.MonitorGroup == c.Group {
		add("monitor_group", "must differ from group %q: the monitor group gets offsets committed from outside it", c.Group)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"session_timeout", c.SessionTimeout}, {"heartbeat_interval", c.HeartbeatInterval}, {"rebalance_timeout", c.RebalanceTimeout}, {"stall_timeout", c.StallTimeout}} {
		if d.v <= 0 {
			add(d.key, "%v is not positive", d.v)
		}
	}
	if c.HeartbeatInterval > 0 && c.SessionTimeout > 0 && c.HeartbeatInterval*3 > c.SessionTimeout {
		add("heartbeat_interval", "%v is more than a third of session_timeout %v", c.HeartbeatInterval, c.SessionTimeout)
	}
	if c.RebalanceTimeout > 0 && c.RebalanceTimeout < c.SessionTimeout {
		add("rebalance_timeout", "%v is below session_timeout %v", c.RebalanceTimeout, c.SessionTimeout)
	}
}

func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not host:port: %w", err)
	}
	if host == "" {
		return fmt.Errorf("missing host")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("port %q is not a number in 1..65535", port)
	}
	return nil
}

// checkTopicName applies Kafka's own rules so a typo fails at load time
// rather than as an unknown topic at Open.
func checkTopicName(topic string) error {
	switch {
	case topic == "":
		return fmt.Errorf("must not be empty")
	case topic == "." || topic == "..":
		return fmt.Errorf("%q is not a valid topic name", topic)
	case len(topic) > 249:
		return fmt.Errorf("is %d characters, more than Kafka's 249", len(topic))
	}
	for _, r := range topic {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%q holds %q; Kafka allows only letters, digits, '.', '_' and '-'", topic, r)
		}
	}
	return nil
}
