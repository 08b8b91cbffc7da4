package sdk

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/kappa-stream/kappa/internal/rpc"
	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Describe and Validate over gRPC: every client half implements
// pluginclient.Inspector with them (checked by that package's tests).

// Server halves.

func (s *sourceServer) Describe(context.Context, *pb.Empty) (*pb.PluginInfo, error) {
	return infoToPB(describe(KindSource, s.impl)), nil
}

func (s *sourceServer) Validate(_ context.Context, req *pb.Setup) (*pb.Empty, error) {
	return validateStatus(KindSource, s.impl, req)
}

func (s *extractorServer) Describe(context.Context, *pb.Empty) (*pb.PluginInfo, error) {
	return infoToPB(describe(KindExtractor, s.impl)), nil
}

func (s *extractorServer) Validate(_ context.Context, req *pb.Setup) (*pb.Empty, error) {
	return validateStatus(KindExtractor, s.impl, req)
}

func (s *sinkServer) Describe(context.Context, *pb.Empty) (*pb.PluginInfo, error) {
	return infoToPB(describe(KindSink, s.impl)), nil
}

func (s *sinkServer) Validate(_ context.Context, req *pb.Setup) (*pb.Empty, error) {
	return validateStatus(KindSink, s.impl, req)
}

func validateStatus(kind string, impl any, req *pb.Setup) (*pb.Empty, error) {
	err := validateConfig(describe(kind, impl), req.GetConfig())
	if errors.Is(err, rpc.ErrNotDescribed) {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return &pb.Empty{}, toStatus(err)
}

// Client halves.

func (c *sourceClient) Describe(ctx context.Context) (Info, error) {
	resp, err := c.rpc.Describe(ctx, &pb.Empty{})
	return infoFromPB(resp, describeError("source describe", err))
}

func (c *sourceClient) Validate(ctx context.Context, setup Setup) error {
	_, err := c.rpc.Validate(ctx, setupToPB(setup))
	return validateError("source validate", err)
}

func (c *extractorClient) Describe(ctx context.Context) (Info, error) {
	resp, err := c.rpc.Describe(ctx, &pb.Empty{})
	return infoFromPB(resp, describeError("extractor describe", err))
}

func (c *extractorClient) Validate(ctx context.Context, setup Setup) error {
	_, err := c.rpc.Validate(ctx, setupToPB(setup))
	return validateError("extractor validate", err)
}

func (c *sinkClient) Describe(ctx context.Context) (Info, error) {
	resp, err := c.rpc.Describe(ctx, &pb.Empty{})
	return infoFromPB(resp, describeError("sink describe", err))
}

func (c *sinkClient) Validate(ctx context.Context, setup Setup) error {
	_, err := c.rpc.Validate(ctx, setupToPB(setup))
	return validateError("sink validate", err)
}

// describeError maps Unimplemented, the answer of a plugin without the
// call or of a plugin of another kind, to rpc.ErrNotDescribed.
func describeError(op string, err error) error {
	if status.Code(err) == codes.Unimplemented {
		return fmt.Errorf("%s: %w (the plugin serves another kind, or was built with an older SDK)", op, rpc.ErrNotDescribed)
	}
	return fromStatus(op, err)
}

func validateError(op string, err error) error {
	if code := status.Code(err); code == codes.Unimplemented || code == codes.FailedPrecondition {
		return fmt.Errorf("%s: %w", op, rpc.ErrNotDescribed)
	}
	return fromStatus(op, err)
}

func infoToPB(info Info) *pb.PluginInfo {
	out := &pb.PluginInfo{Name: info.Name, Kind: info.Kind, Version: info.Version, Description: info.Description, ConfigDescribed: info.ConfigDescribed}
	for _, f := range info.Fields {
		out.Config = append(out.Config, &pb.ConfigField{Name: f.Name, Type: f.Type, Default: f.Default, Required: f.Required, Enum: f.Enum, Description: f.Description})
	}
	if l := info.FactLimits; l != (FactLimits{}) {
		out.FactLimits = &pb.FactLimits{MaxDimensionChars: int32(min(l.MaxDimensionChars, math.MaxInt32)), DimensionsUtf8: l.DimensionsUTF8, NoTrailingSpace: l.NoTrailingSpace, FiniteValues: l.FiniteValues, NoNul: l.NoNUL}
		if !l.EarliestWindow.IsZero() {
			out.FactLimits.EarliestWindowUnixSeconds = proto.Int64(l.EarliestWindow.Unix())
		}
		if !l.LatestWindow.IsZero() {
			out.FactLimits.LatestWindowUnixSeconds = proto.Int64(l.LatestWindow.Unix())
		}
	}
	return out
}

func infoFromPB(resp *pb.PluginInfo, err error) (Info, error) {
	if err != nil {
		return Info{}, err
	}
	info := Info{Name: resp.GetName(), Kind: resp.GetKind(), Version: resp.GetVersion(), Description: resp.GetDescription(), ConfigDescribed: resp.GetConfigDescribed()}
	for _, f := range resp.GetConfig() {
		info.Fields = append(info.Fields, Field{Name: f.GetName(), Type: f.GetType(), Default: f.GetDefault(), Required: f.GetRequired(), Enum: f.GetEnum(), Description: f.GetDescription()})
	}
	if l := resp.GetFactLimits(); l != nil {
		info.FactLimits = FactLimits{MaxDimensionChars: int(max(l.GetMaxDimensionChars(), 0)), DimensionsUTF8: l.GetDimensionsUtf8(), NoTrailingSpace: l.GetNoTrailingSpace(), FiniteValues: l.GetFiniteValues(), NoNUL: l.GetNoNul()}
		if l.EarliestWindowUnixSeconds != nil {
			info.FactLimits.EarliestWindow = time.Unix(l.GetEarliestWindowUnixSeconds(), 0).UTC()
		}
		if l.LatestWindowUnixSeconds != nil {
			info.FactLimits.LatestWindow = time.Unix(l.GetLatestWindowUnixSeconds(), 0).UTC()
		}
	}
	return info, nil
}
