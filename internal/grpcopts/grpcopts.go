// Package grpcopts tunes the gRPC transport between the runtime and its
// plugins for what it carries: batches of megabytes over a local unix
// socket, one call at a time per plugin.
package grpcopts

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"
)

const (
	// window is the HTTP/2 flow-control window of a stream and of the
	// connection. gRPC starts at 64 KiB and grows it by estimating the
	// bandwidth-delay product, so a multi-megabyte batch would wait for
	// window updates many times; a fixed window of a whole batch lets the
	// sender write it in one go. Setting it turns the estimation off.
	window = 16 << 20
	// buffer is the size of the transport's read and write buffers
	// (default 32 KiB): fewer, larger syscalls per batch.
	buffer = 1 << 20
)

// Server returns the options a plugin's gRPC server adds to its own.
func Server() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.InitialWindowSize(window),
		grpc.InitialConnWindowSize(window),
		grpc.ReadBufferSize(buffer),
		grpc.WriteBufferSize(buffer),
		experimental.BufferPool(Pool),
	}
}

// Dial returns the options the runtime dials its plugins with.
func Dial() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithInitialWindowSize(window),
		grpc.WithInitialConnWindowSize(window),
		grpc.WithReadBufferSize(buffer),
		grpc.WithWriteBufferSize(buffer),
		experimental.WithBufferPool(Pool),
	}
}
