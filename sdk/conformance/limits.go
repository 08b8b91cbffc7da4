package conformance

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/kappa-stream/kappa/sdk"
)

// ErrLimitNotPermanent: a row outside the FactLimits the sink publishes
// (sdk.Describer) was stored, or refused with an error that does not wrap
// sdk.ErrPermanent or does not name the row's partition and first offset,
// or moved a position. The runtime rejects such facts before they reach
// the sink; one that gets through anyway is a batch no retry can cure, and
// the run must stop at once saying which record it was.
var ErrLimitNotPermanent = errors.New("a row outside the published limits is not refused for good, naming its record")

// limitBreaches are rows outside l, by what they break: one per limit set,
// those of dimension values only when the setup has dimensions.
func limitBreaches(l sdk.FactLimits, dims int, window time.Time, w time.Duration) map[string]sdk.Row {
	rows := map[string]sdk.Row{}
	values := func(v string) []string {
		if dims == 0 {
			return nil
		}
		d := make([]string, dims)
		for i := range d {
			d[i] = "d"
		}
		d[0] = v
		return d
	}
	if dims > 0 {
		if l.MaxDimensionChars > 0 {
			rows["dimension value too long"] = sdk.Row{Window: window, Dims: values(strings.Repeat("x", l.MaxDimensionChars+1))}
		}
		if l.DimensionsUTF8 {
			rows["dimension value not UTF-8"] = sdk.Row{Window: window, Dims: values("e\xffn")}
		}
		if l.NoNUL {
			rows["dimension value with a NUL"] = sdk.Row{Window: window, Dims: values("e\x00n")}
		}
		if l.NoTrailingSpace {
			rows["dimension value ending in a space"] = sdk.Row{Window: window, Dims: values("en ")}
		}
	}
	if !l.EarliestWindow.IsZero() {
		rows["window before the earliest"] = sdk.Row{Window: l.EarliestWindow.Add(-w).Truncate(w), Dims: values("en")}
	}
	if !l.LatestWindow.IsZero() {
		rows["window after the latest"] = sdk.Row{Window: l.LatestWindow.Add(w).Truncate(w), Dims: values("en")}
	}
	if l.FiniteValues {
		rows["sum not a number"] = sdk.Row{Window: window, Dims: values("en"), Sum: math.NaN()}
	}
	return rows
}

// checkFactLimits commits, for each limit the sink publishes, one row
// outside it: each commit must fail with a permanent error naming the
// row's partition and first offset, and leave the positions as they were.
// A sink that publishes no limits is not checked.
func checkFactLimits(ctx context.Context, f SinkFixture) error {
	d, ok := f.New().(sdk.Describer)
	if !ok {
		return nil
	}
	limits := d.Describe().FactLimits
	stream := streamName()
	s, err := openSink(ctx, f)
	if err != nil {
		return err
	}
	defer s.Close(context.WithoutCancel(ctx))
	window := baseWindow(stream, f.Setup.Window)
	var findings []error
	for what, row := range limitBreaches(limits, len(f.Setup.Dimensions), window, f.Setup.Window) {
		r := rng(3, 5, 10)
		row.OffsetRange, row.Count, row.FirstOffset = r, 1, 7
		err := s.Commit(ctx, sdk.Commit{Stream: stream, Ranges: []sdk.RangeStats{{OffsetRange: r, Records: 5, Facts: 1}}, Rows: []sdk.Row{row}})
		switch {
		case !errors.Is(err, sdk.ErrPermanent):
			findings = append(findings, violation(ErrLimitNotPermanent, "%s: commit returned %v, want an error wrapping sdk.ErrPermanent", what, err))
		case !strings.Contains(err.Error(), "partition 3") || !strings.Contains(err.Error(), "offset 7"):
			findings = append(findings, violation(ErrLimitNotPermanent, "%s: %q does not name partition 3 and the first record's offset 7", what, err))
		}
		if err := expectPositions(ctx, s, stream, map[int32]int64{}, ErrLimitNotPermanent, fmt.Sprintf("the refused row (%s)", what)); err != nil {
			return errors.Join(append(findings, err)...)
		}
	}
	return errors.Join(findings...)
}
