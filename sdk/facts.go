package sdk

import (
	"errors"
	"fmt"
	"time"

	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
)

// Facts cross the boundary column by column (ExtractResponse in
// plugin.proto): a batch's thousands of facts are a few packed fields, and
// each distinct dimension value travels once.

// factEncoder writes Extractions as ExtractResponses, reusing its memory
// from one call to the next.
type factEncoder struct {
	resp  pb.ExtractResponse
	index map[string]uint32 // a dimension value's place in resp.Dims
}

// encode returns x as a response, valid until the next call. Every fact
// must carry as many dimension values as the first.
func (e *factEncoder) encode(x *Extraction) (*pb.ExtractResponse, error) {
	r := &e.resp
	r.FactRecords, r.FactTimes, r.FactValues = r.FactRecords[:0], r.FactTimes[:0], r.FactValues[:0]
	r.FactDims, r.Dims = r.FactDims[:0], r.Dims[:0]
	if e.index == nil {
		e.index = make(map[string]uint32)
	}
	clear(e.index)
	values := false
	for _, f := range x.Facts {
		if len(f.Dims) != len(x.Facts[0].Dims) {
			return nil, fmt.Errorf("extractor broke its contract: the fact of record %d has %d dimension values, the fact of record %d has %d",
				f.Record, len(f.Dims), x.Facts[0].Record, len(x.Facts[0].Dims))
		}
		r.FactRecords = append(r.FactRecords, int32(f.Record))
		r.FactTimes = append(r.FactTimes, f.Time.UnixNano())
		values = values || f.Value != 0
		for _, d := range f.Dims {
			i, ok := e.index[d]
			if !ok {
				i = uint32(len(r.Dims))
				e.index[d] = i
				r.Dims = append(r.Dims, d)
			}
			r.FactDims = append(r.FactDims, i)
		}
	}
	if values {
		for _, f := range x.Facts {
			r.FactValues = append(r.FactValues, f.Value)
		}
	}
	r.Skipped, r.Rejected = verdictsToPB(x.Skipped), verdictsToPB(x.Rejected)
	return r, nil
}

var errMalformedAnswer = errors.New("the extractor sent a malformed answer")

// extractionFromPB appends the outcomes in resp to out.
func extractionFromPB(resp *pb.ExtractResponse, out *Extraction) error {
	records, times, values := resp.GetFactRecords(), resp.GetFactTimes(), resp.GetFactValues()
	dimIndex, dims := resp.GetFactDims(), resp.GetDims()
	n := len(records)
	if len(times) != n || len(values) != 0 && len(values) != n || n == 0 && len(dimIndex) > 0 || n > 0 && len(dimIndex)%n != 0 {
		return fmt.Errorf("%w: %d facts, %d times, %d values, %d dimension values", errMalformedAnswer, n, len(times), len(values), len(dimIndex))
	}
	var perFact int
	var dimValues []string // one backing array for every fact's values
	if n > 0 && len(dimIndex) > 0 {
		perFact = len(dimIndex) / n
		dimValues = make([]string, len(dimIndex))
		for i, k := range dimIndex {
			if int(k) >= len(dims) {
				return fmt.Errorf("%w: dimension value %d of %d", errMalformedAnswer, k, len(dims))
			}
			dimValues[i] = dims[k]
		}
	}
	for i := range n {
		f := Fact{Record: int(records[i]), Time: time.Unix(0, times[i]).UTC()}
		if len(values) > 0 {
			f.Value = values[i]
		}
		if perFact > 0 {
			f.Dims = dimValues[i*perFact : (i+1)*perFact : (i+1)*perFact]
		}
		out.Facts = append(out.Facts, f)
	}
	out.Skipped = verdictsFromPB(resp.GetSkipped(), out.Skipped)
	out.Rejected = verdictsFromPB(resp.GetRejected(), out.Rejected)
	return nil
}
