package sdk

import (
	"reflect"
	"strings"
	"testing"
	"time"

	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
	"google.golang.org/protobuf/proto"
)

func TestFactsCrossColumnByColumn(t *testing.T) {
	when := time.Date(2016, 6, 1, 19, 36, 5, 7, time.UTC)
	x := Extraction{
		Facts: []Fact{
			{Record: 0, Time: when, Dims: []string{"en", "Twitter for iPhone"}},
			{Record: 2, Time: when.Add(-3 * time.Hour), Dims: []string{"ja", "Twitter for iPhone"}},
			{Record: 3, Time: when, Dims: []string{"en", ""}, Value: 2.5},
		},
		Skipped:  []Verdict{{Record: 1, Reason: "notice: delete"}},
		Rejected: []Verdict{{Record: 4, Reason: "no event time"}},
	}
	var enc factEncoder
	resp, err := enc.encode(&x)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(resp.GetDims(), []string{"en", "Twitter for iPhone", "ja", ""}) ||
		!reflect.DeepEqual(resp.GetFactDims(), []uint32{0, 1, 2, 1, 0, 3}) {
		t.Errorf("dimension values %q, indexes %v: each distinct value should travel once", resp.GetDims(), resp.GetFactDims())
	}
	wire, err := proto.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	var back pb.ExtractResponse
	if err := proto.Unmarshal(wire, &back); err != nil {
		t.Fatal(err)
	}
	var got Extraction
	if err := extractionFromPB(&back, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, x) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, x)
	}

	// Without values and dimensions, only records and times travel; the
	// encoder's memory is reused.
	plain := Extraction{Facts: []Fact{{Record: 0, Time: when}, {Record: 1, Time: when}}}
	resp, err = enc.encode(&plain)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetFactValues()) != 0 || len(resp.GetFactDims()) != 0 || len(resp.GetDims()) != 0 {
		t.Errorf("values %v, dims %v %q: want none", resp.GetFactValues(), resp.GetFactDims(), resp.GetDims())
	}
	got = Extraction{}
	if err := extractionFromPB(resp, &got); err != nil || !reflect.DeepEqual(got, plain) {
		t.Errorf("got %+v, %v; want %+v", got, err, plain)
	}
}

func TestFactsOfUnevenDimensionsAreRefused(t *testing.T) {
	x := Extraction{Facts: []Fact{{Record: 0, Dims: []string{"en"}}, {Record: 1}}}
	if _, err := new(factEncoder).encode(&x); err == nil || !strings.Contains(err.Error(), "record 1 has 0 dimension values") {
		t.Errorf("encode = %v", err)
	}
}

func TestMalformedAnswersAreRefused(t *testing.T) {
	for name, resp := range map[string]*pb.ExtractResponse{
		"times":     {FactRecords: []int32{0, 1}, FactTimes: []int64{1}},
		"values":    {FactRecords: []int32{0, 1}, FactTimes: []int64{1, 2}, FactValues: []float64{1}},
		"uneven":    {FactRecords: []int32{0, 1}, FactTimes: []int64{1, 2}, FactDims: []uint32{0, 0, 0}, Dims: []string{"a"}},
		"no facts":  {FactDims: []uint32{0}, Dims: []string{"a"}},
		"dim index": {FactRecords: []int32{0}, FactTimes: []int64{1}, FactDims: []uint32{1}, Dims: []string{"a"}},
	} {
		if err := extractionFromPB(resp, &Extraction{}); err == nil || !strings.Contains(err.Error(), "malformed answer") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
