package kafkasource

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte("brokers: 127.0.0.1:9092\ntopic: twitter\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Brokers:       "127.0.0.1:9092",
		Topic:         "twitter",
		Start:         StartEarliest,
		Isolation:     ReadCommitted,
		ClientID:      "kappa",
		DialTimeout:   10 * time.Second,
		OnOutOfRange:  OutOfRangeFail,
		FetchMaxBytes: 2 << 20,

		GroupProtocol:     GroupClassic,
		SessionTimeout:    10 * time.Second,
		HeartbeatInterval: time.Second,
		RebalanceTimeout:  90 * time.Second,
		StallTimeout:      2 * time.Minute,
	}
	if cfg != want {
		t.Errorf("got %+v, want %+v", cfg, want)
	}
}

func TestParseConfigAllKeys(t *testing.T) {
	raw := `
brokers: " k1:9092, k2:9093 ,"
topic: tweets.v2
start: latest
isolation: read_uncommitted
client_id: kappa-test
dial_timeout: 2500ms
fetch_max_bytes: 1048576
`
	cfg, err := ParseConfig([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.BrokerList(), []string{"k1:9092", "k2:9093"}; !slices.Equal(got, want) {
		t.Errorf("brokers: got %q, want %q", got, want)
	}
	if cfg.Topic != "tweets.v2" || cfg.Start != StartLatest || cfg.Isolation != ReadUncommitted ||
		cfg.ClientID != "kappa-test" || cfg.DialTimeout != 2500*time.Millisecond || cfg.FetchMaxBytes != 1<<20 {
		t.Errorf("got %+v", cfg)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		paths []string
	}{
		{"missing required", "{}", []string{"brokers", "topic"}},
		{"unknown key", "brokers: a:1\ntopic: t\ngroups: g\n", []string{"groups"}},
		{"group timeouts", "brokers: a:1\ntopic: t\ngroup: g\nmonitor_group: g\nsession_timeout: 3s\nheartbeat_interval: 2s\nrebalance_timeout: 1s\nstall_timeout: 0s\ngroup_protocol: new\n",
			[]string{"group_protocol", "monitor_group", "stall_timeout", "heartbeat_interval", "rebalance_timeout"}},
		{"group name", "brokers: a:1\ntopic: t\ngroup: ' g'\n", []string{"group"}},
		{"bad broker", "brokers: a:1,nohost,b:0\ntopic: t\n", []string{"brokers", "brokers"}},
		{"bad topic", "brokers: a:1\ntopic: tw itter\n", []string{"topic"}},
		{"bad enums", "brokers: a:1\ntopic: t\nstart: beginning\nisolation: committed\non_out_of_range: ignore\n", []string{"start", "isolation", "on_out_of_range"}},
		{"bad duration", "brokers: a:1\ntopic: t\ndial_timeout: soon\n", []string{"dial_timeout"}},
		{"integer duration", "brokers: a:1\ntopic: t\ndial_timeout: 10\n", []string{"dial_timeout"}},
		{"non-positive values", "brokers: a:1\ntopic: t\ndial_timeout: 0s\nfetch_max_bytes: 0\nclient_id: ' '\n",
			[]string{"client_id", "dial_timeout", "fetch_max_bytes"}},
		{"fetch too large", "brokers: a:1\ntopic: t\nfetch_max_bytes: 4294967296\n", []string{"fetch_max_bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.raw))
			var errs sdk.ConfigErrors
			if !errors.As(err, &errs) {
				t.Fatalf("got %v, want sdk.ConfigErrors", err)
			}
			var paths []string
			for _, e := range errs {
				paths = append(paths, e.Path)
			}
			if !slices.Equal(paths, tt.paths) {
				t.Errorf("paths %q, want %q (errors: %v)", paths, tt.paths, err)
			}
		})
	}
}

func TestCheckTopicName(t *testing.T) {
	long := make([]byte, 250)
	for i := range long {
		long[i] = 'a'
	}
	for _, ok := range []string{"twitter", "a.b_c-D9", string(long[:249])} {
		if err := checkTopicName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "ü", string(long)} {
		if err := checkTopicName(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}
