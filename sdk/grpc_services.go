package sdk

import (
	"context"

	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
	"google.golang.org/grpc"
)

// The services the plugins serve: the generated descriptors, with the two
// methods that carry batches swapped for handlers that take and give them
// in their wire form (batch_wire.go).
var (
	sourceService = withHandler(&pb.Source_ServiceDesc, "Poll",
		handler(pb.Source_Poll_FullMethodName, func(srv any, ctx context.Context, req *pb.PollRequest) (any, error) {
			return srv.(*sourceServer).poll(ctx, req)
		}))
	extractorService = withHandler(&pb.Extractor_ServiceDesc, "Extract",
		handler(pb.Extractor_Extract_FullMethodName, func(srv any, ctx context.Context, req *encoded) (any, error) {
			return srv.(*extractorServer).extract(ctx, req)
		}))
)

// withHandler returns a copy of desc whose method named method is served
// by h.
func withHandler(desc *grpc.ServiceDesc, method string, h grpc.MethodHandler) *grpc.ServiceDesc {
	d := *desc
	d.Methods = append([]grpc.MethodDesc(nil), desc.Methods...)
	for i := range d.Methods {
		if d.Methods[i].MethodName == method {
			d.Methods[i].Handler = h
			return &d
		}
	}
	panic("sdk: service " + desc.ServiceName + " has no method " + method)
}

// handler makes a unary method handler the way generated code does:
// decode the request (here through grpc_codec.go, so Req may be encoded), then
// call serve, through the server's interceptor when it has one.
func handler[Req any](fullMethod string, serve func(srv any, ctx context.Context, req *Req) (any, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		req := new(Req)
		if err := dec(req); err != nil {
			return nil, err
		}
		if interceptor == nil {
			return serve(srv, ctx, req)
		}
		info := &grpc.UnaryServerInfo{Server: srv, FullMethod: fullMethod}
		return interceptor(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			return serve(srv, ctx, req.(*Req))
		})
	}
}
