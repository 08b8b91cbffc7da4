// Package pluginclient is the runtime's side of the plugin protocol: what
// it needs to start plugin processes and talk to them, and what plugin
// authors never see in package sdk. The client halves themselves live in
// package sdk (unexported, beside the server halves they share the codec
// with) and are reached through PluginSet; see internal/rpc.
package pluginclient

import (
	"context"

	"github.com/hashicorp/go-plugin"

	"github.com/kappa-stream/kappa/internal/arena"
	"github.com/kappa-stream/kappa/internal/rpc"
	"github.com/kappa-stream/kappa/sdk"
)

// Handshake is the go-plugin handshake every plugin process answers.
var Handshake = rpc.Handshake

// PluginSet is the go-plugin plugin set the runtime dispenses sources,
// extractors and sinks from. shared, when not nil, is the arena the
// runtime shares with its source and extractor processes.
func PluginSet(shared *arena.Arena) plugin.PluginSet { return rpc.NewPluginSet(shared) }

// Errors of the runtime's view of a plugin.
var (
	// ErrPluginUnavailable is wrapped by errors of calls whose plugin
	// process could not be reached: it died, or its connection broke.
	ErrPluginUnavailable = rpc.ErrPluginUnavailable
	// ErrNotDescribed: the plugin gives no config schema (no sdk.Describer,
	// no Info.Config, or an SDK older than Describe).
	ErrNotDescribed = rpc.ErrNotDescribed
	// ErrAuditUnsupported: the sink does not implement sdk.Auditor.
	ErrAuditUnsupported = rpc.ErrAuditUnsupported
	// ErrCommittedUnsupported: the source does not implement sdk.CommitObserver.
	ErrCommittedUnsupported = rpc.ErrCommittedUnsupported
	// ErrCompactUnsupported: the sink does not implement sdk.Compactor.
	ErrCompactUnsupported = rpc.ErrCompactUnsupported
	// ErrWindowsUnsupported: the sink does not implement sdk.WindowReader.
	ErrWindowsUnsupported = rpc.ErrWindowsUnsupported
	// ErrAdoptUnsupported: the sink does not implement sdk.Adopter.
	ErrAdoptUnsupported = rpc.ErrAdoptUnsupported
	// ErrDeadLettersUnsupported: the sink does not implement sdk.DeadLetterStore.
	ErrDeadLettersUnsupported = rpc.ErrDeadLettersUnsupported
	// ErrGenerationsUnsupported: the sink does not implement sdk.Generations.
	ErrGenerationsUnsupported = rpc.ErrGenerationsUnsupported
)

// Inspector is implemented by every Source, Extractor and Sink the runtime
// dispenses from a plugin process: it asks the plugin about itself without
// opening it.
type Inspector interface {
	// Describe returns what the plugin says about itself. An error wrapping
	// ErrNotDescribed means the plugin predates Describe or serves
	// another kind than the one dispensed.
	Describe(ctx context.Context) (sdk.Info, error)
	// Validate checks setup's config block against the plugin's schema,
	// reading and writing nothing. Problems are sdk.ConfigErrors; an error
	// wrapping ErrNotDescribed means the plugin gives no schema.
	Validate(ctx context.Context, setup sdk.Setup) error
}

// BatchExtractor is an Extractor that also takes a whole batch. The
// runtime's client of an extractor plugin is one: it forwards a batch
// polled from a source plugin in the form the source sent it, without
// encoding the records again. Plugin authors implement sdk.Extractor only.
type BatchExtractor interface {
	sdk.Extractor
	// ExtractBatch is Extract of the records of b's partitions, in order.
	ExtractBatch(ctx context.Context, b sdk.Batch, out *sdk.Extraction) error
}

// ExtractBatch extracts the records of b's partitions, in order, with
// x.ExtractBatch when x is a BatchExtractor and x.Extract otherwise.
func ExtractBatch(ctx context.Context, x sdk.Extractor, b sdk.Batch, out *sdk.Extraction) error {
	if bx, ok := x.(BatchExtractor); ok {
		return bx.ExtractBatch(ctx, b, out)
	}
	var records []sdk.Record
	for _, p := range b.Partitions {
		records = append(records, p.Records...)
	}
	return x.Extract(ctx, records, out)
}
