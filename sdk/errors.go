package sdk

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kappa-stream/kappa/internal/rpc"
	pb "github.com/kappa-stream/kappa/internal/rpc/kappapb"
)

// The error vocabulary, one for plugins and runtime alike. A plugin's error
// falls in one of four classes, and each crosses the process boundary
// intact (toStatus, fromStatus):
//
//   - ErrFenced: another writer moved first; the runtime re-reads the
//     committed positions and stands by.
//   - ErrPermanent: no retry can cure it; the runtime stops at once. The
//     runtime marks its own such errors (a plugin that broke its contract,
//     one that keeps dying) with it too.
//   - ErrRetryable: transient; the plugin knows the same call may succeed
//     when tried again (a deadlock, a lost connection). The runtime
//     re-reads the committed positions and retries at once, without
//     waiting out a grown backoff.
//   - ErrRebalanced (a *RebalanceError from Poll): a consumer group moved
//     partitions; the runtime settles its commit in flight, drops what it
//     polled, re-reads the committed positions and seeks. No failure.
//   - any other error: the runtime re-reads the committed positions and
//     retries with a growing backoff, until the pipeline's give_up_after.
//
// Retrying a commit is only safe because the runtime re-reads the
// positions first: a commit that did land is then seen and not repeated.

// ErrPermanent is matched (errors.Is) by errors that no retry can cure,
// such as records deleted before they could be read. The runtime stops on
// them at once instead of re-reading positions and trying again. Mark an
// error with Permanent.
var ErrPermanent = errors.New("permanent error")

// ErrRetryable is matched (errors.Is) by errors that are transient: the
// same call may succeed when tried again, as after a deadlock or a lost
// connection. Mark an error with Retryable. An error that is neither
// retryable nor permanent is retried too, but with a growing backoff.
var ErrRetryable = errors.New("retryable error")

// Retryable marks err as transient; its message is kept. A fenced or
// permanent error stays what it is: marking it changes nothing.
func Retryable(err error) error {
	if err == nil || errors.Is(err, ErrFenced) || errors.Is(err, ErrPermanent) {
		return err
	}
	return retryableError{err}
}

type retryableError struct{ error }

func (e retryableError) Unwrap() error        { return e.error }
func (e retryableError) Is(target error) bool { return target == ErrRetryable }

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

// An ErrGenerationEnded crosses the process boundary as FailedPrecondition
// (it is permanent) with an ErrorInfo detail of this reason and domain.
const (
	reasonGenerationEnded = "GENERATION_ENDED"
	errorDomain           = "kappa.v1"
)

// ErrRebalanced is matched (errors.Is) by a *RebalanceError.
var ErrRebalanced = errors.New("consumer group rebalanced")

// RebalanceError is what a source in a consumer group (SourceInfo.Group)
// returns from Poll when the group changed which partitions it owns. It is
// no failure: the runtime lets the commit in flight finish, drops every
// batch polled but not committed (so none carries a partition that left),
// re-reads the committed positions and calls Seek, which places the
// partitions the source now owns. A source that waits for the runtime
// before letting revoked partitions go (Kafka's cooperative rebalance)
// may take that Seek as the runtime's word that it holds none of them.
type RebalanceError struct {
	// Assigned, Revoked and Lost are the partitions that came, that left
	// in an orderly rebalance, and that were taken away (a session that
	// expired: another member may already own them).
	Assigned, Revoked, Lost []int32
	// Owned is every partition the source holds after the change.
	Owned []int32
}

func (e *RebalanceError) Error() string {
	return fmt.Sprintf("consumer group rebalanced: assigned %v, revoked %v, lost %v; owning %v", e.Assigned, e.Revoked, e.Lost, e.Owned)
}

// Is makes errors.Is(err, ErrRebalanced) match.
func (e *RebalanceError) Is(target error) bool { return target == ErrRebalanced }

// toStatus turns a plugin's error into a gRPC status that keeps what the
// runtime must tell apart: fencing, permanence, config problems,
// cancellation, retryability. A retryable error keeps the code it would
// have had (Unknown, mostly) and carries a RetryInfo detail, the standard
// gRPC way to say "try again".
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var cerrs ConfigErrors
	var cerr ConfigError
	var rebalance *RebalanceError
	switch {
	case errors.Is(err, ErrFenced):
		return status.Error(codes.Aborted, err.Error())
	case errors.Is(err, ErrGenerationEnded):
		st, derr := status.New(codes.FailedPrecondition, err.Error()).WithDetails(&errdetails.ErrorInfo{Reason: reasonGenerationEnded, Domain: errorDomain})
		if derr != nil {
			return status.Error(codes.FailedPrecondition, err.Error())
		}
		return st.Err()
	case errors.As(err, &rebalance):
		detail := &pb.Rebalance{Assigned: rebalance.Assigned, Revoked: rebalance.Revoked, Lost: rebalance.Lost, Owned: rebalance.Owned}
		st, derr := status.New(codes.Unknown, err.Error()).WithDetails(detail)
		if derr != nil {
			return status.Error(codes.Unknown, err.Error())
		}
		return st.Err()
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
	case errors.Is(err, ErrRetryable):
		st, derr := status.New(codes.Unknown, err.Error()).WithDetails(&errdetails.RetryInfo{})
		if derr != nil {
			return status.Error(codes.Unknown, err.Error())
		}
		return st.Err()
	}
	return status.Error(codes.Unknown, err.Error())
}

// optional is impl as T, the interface of an optional call, or the
// Unimplemented status that says the plugin does not implement it, which
// fromOptional turns back into unsupported on the runtime's side.
func optional[T any](impl any, unsupported error) (T, error) {
	t, ok := impl.(T)
	if !ok {
		return t, status.Error(codes.Unimplemented, unsupported.Error())
	}
	return t, nil
}

// fromOptional is fromStatus for an optional call: Unimplemented means
// the plugin does not implement it (unsupported, wrapped).
func fromOptional(op string, err, unsupported error) error {
	if status.Code(err) == codes.Unimplemented {
		return fmt.Errorf("%s: %w", op, unsupported)
	}
	return fromStatus(op, err)
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
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == reasonGenerationEnded && info.GetDomain() == errorDomain {
				return GenerationEnded(fmt.Errorf("%s: %s", op, st.Message()))
			}
		}
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
		return fmt.Errorf("%s: %s: %w", op, st.Message(), rpc.ErrPluginUnavailable)
	}
	for _, d := range st.Details() {
		if r, ok := d.(*pb.Rebalance); ok {
			return fmt.Errorf("%s: %w", op, &RebalanceError{Assigned: r.GetAssigned(), Revoked: r.GetRevoked(), Lost: r.GetLost(), Owned: r.GetOwned()})
		}
	}
	err = fmt.Errorf("%s: %s", op, st.Message())
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.RetryInfo); ok {
			return Retryable(err)
		}
	}
	return err
}
