// Package rpc is what both ends of the plugin protocol share and the SDK's
// API does not show plugin authors: the go-plugin handshake, the errors
// the runtime's clients return, and the constructor of the plugin set the
// runtime dispenses from. It imports nothing of the SDK, so that the SDK
// can import it: the client halves stay in package sdk beside the server
// halves, with which they share the batch codec and the SDK's unexported
// transport fields, and register themselves here (NewPluginSet). The
// runtime reaches all of it through internal/pluginclient.
package rpc

import (
	"errors"

	"github.com/hashicorp/go-plugin"

	"github.com/kappa-stream/kappa/internal/arena"
)

// ProtocolVersion is carried in the go-plugin handshake. The runtime
// refuses a plugin built against another protocol version.
const ProtocolVersion = 2

// Handshake is the go-plugin handshake shared by the runtime and plugins.
// It only keeps a user from running a plugin binary by hand and refuses a
// plugin built for another ProtocolVersion.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "KAPPA_PLUGIN",
	MagicCookieValue: "e4b1c9f0-kappa-stream-plugin",
}

// NewPluginSet returns the go-plugin plugin set the runtime dispenses
// from; package sdk sets it when it is initialized. shared, when not nil,
// is the arena the runtime shares with its source and extractor
// processes; a source client lends its slots to Polls.
var NewPluginSet func(shared *arena.Arena) plugin.PluginSet

// ErrPluginUnavailable is wrapped by errors of calls whose plugin process
// could not be reached: it died, or its connection broke.
var ErrPluginUnavailable = errors.New("plugin unavailable")

// ErrNotDescribed is wrapped by a validation or description that cannot
// run because the plugin gives no config schema (it is no sdk.Describer,
// or its Info has no Config, or it was built with an SDK that predates
// Describe).
var ErrNotDescribed = errors.New("plugin does not describe its config")

// ErrAuditUnsupported is returned by the runtime's view of a sink that does
// not implement sdk.Auditor.
var ErrAuditUnsupported = errors.New("sink does not support audits")

// ErrCommittedUnsupported is returned by the runtime's view of a source
// that does not implement sdk.CommitObserver.
var ErrCommittedUnsupported = errors.New("source does not observe commits")

// ErrCompactUnsupported is returned by the runtime's view of a sink that
// does not implement sdk.Compactor.
var ErrCompactUnsupported = errors.New("sink does not support compaction")

// ErrAdoptUnsupported is returned by the runtime's view of a sink that does
// not implement sdk.Adopter.
var ErrAdoptUnsupported = errors.New("sink does not support adopting a table")

// ErrWindowsUnsupported is returned by the runtime's view of a sink that
// does not implement sdk.WindowReader.
var ErrWindowsUnsupported = errors.New("sink does not report recent windows")

// ErrDeadLettersUnsupported is returned by the runtime's view of a sink
// that does not implement sdk.DeadLetterStore.
var ErrDeadLettersUnsupported = errors.New("sink does not keep dead letters")

// ErrGenerationsUnsupported is returned by the runtime's view of a sink
// that does not implement sdk.Generations.
var ErrGenerationsUnsupported = errors.New("sink does not keep generations (reprocess, rollback)")
