// Command hashtag-extractor counts tweets per hashtag: one fact per distinct
// hashtag of a tweet (lower-cased), at its timestamp_ms, in one dimension,
// with the author's follower count as the value the pipeline may sum (the
// hashtag's reach).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

func main() { sdk.ServeExtractor(Hashtags{}) }

// Hashtags is the extractor, a plain Go type that tests call directly.
type Hashtags struct{}

func (Hashtags) Open(_ context.Context, s sdk.Setup) error {
	if len(s.Dimensions) != 1 {
		return errors.New("hashtag-extractor: declare one dimension: dimensions: [hashtag]")
	}
	return nil
}

func (Hashtags) Close(context.Context) error { return nil }

func (Hashtags) Extract(_ context.Context, records []sdk.Record, out *sdk.Extraction) error {
	for i, r := range records {
		var t struct {
			TimestampMs string `json:"timestamp_ms"`
			User        struct {
				Followers float64 `json:"followers_count"`
			} `json:"user"`
			Entities struct{ Hashtags []struct{ Text string } } `json:"entities"`
		}
		if err := json.Unmarshal(r.Value, &t); err != nil {
			out.Reject(i, "malformed json")
		} else if len(t.Entities.Hashtags) == 0 {
			out.Skip(i, "no hashtags")
		} else if ms, err := strconv.ParseInt(t.TimestampMs, 10, 64); err != nil {
			out.Reject(i, "no timestamp_ms")
		} else {
			seen := map[string]bool{}
			for _, h := range t.Entities.Hashtags {
				if tag := strings.ToLower(h.Text); !seen[tag] {
					seen[tag] = true
					out.Fact(sdk.Fact{Record: i, Time: time.UnixMilli(ms), Dims: []string{tag}, Value: t.User.Followers})
				}
			}
		}
	}
	return nil
}
