package sdk

import (
	"context"
	"errors"
	"fmt"

	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrPermanent is matched (errors.Is) by errors that no retry can cure,
// such as records deleted before they could be read. The runtime stops on
// them at once instead of re-reading positions and trying again. Mark an
// error with Permanent.
var ErrPermanent = errors.New("permanent error")

// Permanent marks err as one that no retry can cure; its message is kept.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ error }

func (e permanentError) Unwrap() error        { return e.error }
func (e permanentError) Is(target error) bool { return target == ErrPermanent }

// ErrPluginUnavailable is wrapped by errors of calls whose plugin process
// could not be reached: it died, or its connection broke.
var ErrPluginUnavailable = errors.New("plugin unavailable")

// toStatus turns a plugin's error into a gRPC status that keeps what the
// runtime must tell apart: fencing, config problems, cancellation.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var cerrs ConfigErrors
	var cerr ConfigError
	switch {
	case errors.Is(err, ErrFenced):
		return status.Error(codes.Aborted, err.Error())
	case errors.Is(err, ErrPermanent):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.As(err, &cerrs), errors.As(err, &cerr):
		if cerrs == nil {
			cerrs = ConfigErrors{cerr}
		}
		problems := &pb.ConfigProblems{}
		for _, e := range cerrs {
			problems.Problems = append(problems.Problems, &pb.ConfigProblem{Path: e.Path, Message: e.Message})
		}
		st, derr := status.New(codes.InvalidArgument, err.Error()).WithDetails(problems)
		if derr != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		return st.Err()
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}

// fromStatus is the inverse of toStatus on the runtime's side.
func fromStatus(op string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch st.Code() {
	case codes.Aborted:
		return fmt.Errorf("%s: %s: %w", op, st.Message(), ErrFenced)
	case codes.FailedPrecondition:
		return Permanent(fmt.Errorf("%s: %s", op, st.Message()))
	case codes.InvalidArgument:
		for _, d := range st.Details() {
			if problems, ok := d.(*pb.ConfigProblems); ok {
				errs := make(ConfigErrors, 0, len(problems.GetProblems()))
				for _, p := range problems.GetProblems() {
					errs = append(errs, ConfigError{Path: p.GetPath(), Message: p.GetMessage()})
				}
				return errs
			}
		}
	case codes.Canceled:
		return fmt.Errorf("%s: %s: %w", op, st.Message(), context.Canceled)
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: %s: %w", op, st.Message(), context.DeadlineExceeded)
	case codes.Unavailable:
		return fmt.Errorf("%s: %s: %w", op, st.Message(), ErrPluginUnavailable)
	}
	return fmt.Errorf("%s: %s", op, st.Message())
}
