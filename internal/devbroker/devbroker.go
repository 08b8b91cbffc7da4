// Package devbroker runs a one-broker Kafka-protocol cluster (franz-go's
// kfake) for development and end-to-end tests, with its log on disk so a
// large preload neither fills memory nor disappears on a clean restart.
package devbroker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Config describes the broker to start.
type Config struct {
	// Addr is the host:port to listen on; port 0 picks a free port.
	Addr string
	// Topic is created with Partitions partitions when the data directory
	// holds no cluster yet. A reused directory keeps its own topics.
	Topic      string
	Partitions int32
	// DataDir keeps the log and group offsets. Empty means a temporary
	// directory, removed by Close; a named directory is kept.
	DataDir string
	// MaxMessageBytes is the largest record batch a producer may write
	// (the broker's message.max.bytes); 0 keeps kfake's default of
	// 1048588.
	MaxMessageBytes int
	// GroupMinSessionTimeout lowers the smallest session timeout a
	// classic consumer-group member may ask for (kfake's default 6s), so
	// that tests see a dead member's partitions move sooner; 0 keeps it.
	GroupMinSessionTimeout time.Duration
	// GroupConsumerSessionTimeout and GroupConsumerHeartbeat set the
	// KIP-848 (group_protocol: consumer) session timeout and heartbeat
	// interval, which the broker rules there; 0 keeps kfake's defaults.
	GroupConsumerSessionTimeout, GroupConsumerHeartbeat time.Duration
}

// ErrInvalidConfig is wrapped by every Config validation error.
var ErrInvalidConfig = errors.New("invalid broker config")

func (c Config) validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, fmt.Errorf("%w: addr is empty", ErrInvalidConfig))
	}
	if c.Topic == "" {
		errs = append(errs, fmt.Errorf("%w: topic is empty", ErrInvalidConfig))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("%w: partitions %d must be at least 1", ErrInvalidConfig, c.Partitions))
	}
	if c.GroupMinSessionTimeout < 0 || c.GroupConsumerSessionTimeout < 0 || c.GroupConsumerHeartbeat < 0 {
		errs = append(errs, fmt.Errorf("%w: group timeouts must not be negative", ErrInvalidConfig))
	}
	if c.MaxMessageBytes < 0 {
		errs = append(errs, fmt.Errorf("%w: max message bytes %d must not be negative", ErrInvalidConfig, c.MaxMessageBytes))
	}
	return errors.Join(errs...)
}

// Broker is a running single-broker cluster.
type Broker struct {
	cluster    *kfake.Cluster
	addr       string
	dataDir    string
	removeData bool
}

// Start listens on cfg.Addr and serves until Close.
func Start(cfg Config) (*Broker, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &Broker{dataDir: cfg.DataDir}
	if b.dataDir == "" {
		dir, err := os.MkdirTemp("", "kappa-dev-broker-")
		if err != nil {
			return nil, fmt.Errorf("create temporary data dir: %w", err)
		}
		b.dataDir, b.removeData = dir, true
	}
	// kfake always asks for 127.0.0.1:<port>; listening through ListenFn
	// honours the host of cfg.Addr too, and the broker advertises whatever
	// address the listener reports.
	listen := func(network, _ string) (net.Listener, error) {
		ln, err := net.Listen(network, cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
		}
		return ln, nil
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(listen),
		kfake.SeedTopics(cfg.Partitions, cfg.Topic),
		kfake.DataDir(b.dataDir),
	}
	configs := map[string]string{}
	if cfg.MaxMessageBytes > 0 {
		configs["message.max.bytes"] = strconv.Itoa(cfg.MaxMessageBytes)
	}
	if cfg.GroupConsumerSessionTimeout > 0 {
		configs["group.consumer.session.timeout.ms"] = strconv.FormatInt(cfg.GroupConsumerSessionTimeout.Milliseconds(), 10)
	}
	if cfg.GroupConsumerHeartbeat > 0 {
		configs["group.consumer.heartbeat.interval.ms"] = strconv.FormatInt(cfg.GroupConsumerHeartbeat.Milliseconds(), 10)
	}
	if len(configs) > 0 {
		opts = append(opts, kfake.BrokerConfigs(configs))
	}
	if cfg.GroupMinSessionTimeout > 0 {
		opts = append(opts, kfake.GroupMinSessionTimeout(cfg.GroupMinSessionTimeout))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		b.removeDataDir()
		return nil, fmt.Errorf("start broker on %s: %w", cfg.Addr, err)
	}
	b.cluster = cluster
	b.addr = cluster.ListenAddrs()[0]
	return b, nil
}

// Addr is the address the broker listens on and advertises.
func (b *Broker) Addr() string { return b.addr }

// Partitions returns how many partitions topic has, 0 if it does not
// exist. A reused data directory keeps the partition count it was created
// with, whatever Config.Partitions says.
func (b *Broker) Partitions(topic string) int32 {
	n := int32(0)
	for b.cluster.LeaderFor(topic, n) >= 0 {
		n++
	}
	return n
}

// DataDir is where the broker keeps its log.
func (b *Broker) DataDir() string { return b.dataDir }

// Close stops the broker. kfake saves producer idempotence state only on a
// clean Close, so a broker restarted on the same directory after Close
// accepts retried batches without duplicating them. A temporary data
// directory is removed afterwards.
func (b *Broker) Close() error {
	b.cluster.Close()
	return b.removeDataDir()
}

func (b *Broker) removeDataDir() error {
	if !b.removeData {
		return nil
	}
	if err := os.RemoveAll(b.dataDir); err != nil {
		return fmt.Errorf("remove temporary data dir: %w", err)
	}
	return nil
}
