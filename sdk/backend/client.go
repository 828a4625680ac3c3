package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"google.golang.org/grpc"

	pb "github.com/restic-manager/restic-manager/sdk/backend/proto"
	"github.com/restic-manager/restic-manager/sdk/internal/rpcerr"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// client is the host side of a backend plugin.
type client struct {
	plugin.Base
	rpc pb.BackendClient
}

var _ Backend = (*client)(nil)

func newClient(conn grpc.ClientConnInterface) *client {
	return &client{Base: plugin.NewBaseClient(conn), rpc: pb.NewBackendClient(conn)}
}

// Run calls emit on the calling goroutine for each event, in order. An error
// from emit ends the run: the plugin's context is cancelled and Run returns
// that error as it is.
func (c *client) Run(ctx context.Context, job Job, emit func(Event) error) (Result, error) {
	if !job.Kind.Valid() {
		return Result{}, fmt.Errorf("backend: unknown job kind %q", job.Kind)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Run(ctx, &pb.RunRequest{Job: jobToProto(job)})
	if err != nil {
		return Result{}, rpcerr.FromGRPC(err)
	}
	var (
		res       Result
		gotResult bool
	)
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if !gotResult {
				return res, errors.New("backend: the plugin ended the run without a result")
			}
			return res, nil
		}
		if err != nil {
			return res, rpcerr.FromGRPC(err)
		}
		switch m := msg.GetMsg().(type) {
		case *pb.RunResponse_Event:
			if emit == nil {
				continue
			}
			if err := emit(eventFromProto(m.Event)); err != nil {
				return res, err
			}
		case *pb.RunResponse_Result:
			res, gotResult = resultFromProto(m.Result), true
		}
	}
}

func repositoryToProto(r Repository) *pb.Repository {
	return &pb.Repository{Url: r.URL, Password: r.Password, Env: r.Env}
}

func jobToProto(j Job) *pb.Job {
	out := &pb.Job{
		Id:          j.ID,
		Kind:        string(j.Kind),
		Repository:  repositoryToProto(j.Repository),
		NewPassword: j.NewPassword,
		Args: &pb.Args{
			Paths:            j.Args.Paths,
			Excludes:         j.Args.Excludes,
			Tags:             j.Args.Tags,
			Host:             j.Args.Host,
			Snapshots:        j.Args.Snapshots,
			Target:           j.Args.Target,
			Includes:         j.Args.Includes,
			LimitUploadKib:   j.Args.LimitUploadKiB,
			LimitDownloadKib: j.Args.LimitDownloadKiB,
			DryRun:           j.Args.DryRun,
			Prune:            j.Args.Prune,
			ReadDataSubset:   j.Args.ReadDataSubset,
			ToRepository:     j.Args.ToRepository,
			Extra:            j.Args.Extra,
		},
	}
	if j.ToRepository != nil {
		out.ToRepository = repositoryToProto(*j.ToRepository)
	}
	if r := j.Args.Retention; r != nil {
		out.Args.Retention = &pb.Retention{
			KeepLast:    clampInt32(r.KeepLast),
			KeepHourly:  clampInt32(r.KeepHourly),
			KeepDaily:   clampInt32(r.KeepDaily),
			KeepWeekly:  clampInt32(r.KeepWeekly),
			KeepMonthly: clampInt32(r.KeepMonthly),
			KeepYearly:  clampInt32(r.KeepYearly),
			KeepWithin:  r.KeepWithin,
			KeepTags:    r.KeepTags,
			GroupBy:     r.GroupBy,
		}
	}
	return out
}

// clampInt32 converts n to int32, saturating; no retention count or exit
// code comes near the limits.
func clampInt32(n int) int32 {
	switch {
	case n > math.MaxInt32:
		return math.MaxInt32
	case n < math.MinInt32:
		return math.MinInt32
	}
	return int32(n)
}

func eventFromProto(e *pb.Event) Event {
	out := Event{Seq: e.GetSeq()}
	if ns := e.GetTimeUnixNano(); ns != 0 {
		out.Time = time.Unix(0, ns).UTC()
	}
	switch p := e.GetPayload().(type) {
	case *pb.Event_Progress:
		out.Progress = &Progress{
			PercentDone:      p.Progress.GetPercentDone(),
			FilesDone:        p.Progress.GetFilesDone(),
			TotalFiles:       p.Progress.GetTotalFiles(),
			BytesDone:        p.Progress.GetBytesDone(),
			TotalBytes:       p.Progress.GetTotalBytes(),
			ErrorCount:       p.Progress.GetErrorCount(),
			SecondsElapsed:   p.Progress.GetSecondsElapsed(),
			SecondsRemaining: p.Progress.GetSecondsRemaining(),
			CurrentFiles:     p.Progress.GetCurrentFiles(),
		}
	case *pb.Event_Log:
		out.Log = &LogLine{Stream: p.Log.GetStream(), Text: p.Log.GetText()}
	case *pb.Event_Summary:
		s := p.Summary
		out.Summary = &Summary{
			Raw:                 s.GetRaw(),
			SnapshotID:          s.GetSnapshotId(),
			FilesNew:            s.GetFilesNew(),
			FilesChanged:        s.GetFilesChanged(),
			FilesUnmodified:     s.GetFilesUnmodified(),
			DirsNew:             s.GetDirsNew(),
			DirsChanged:         s.GetDirsChanged(),
			DirsUnmodified:      s.GetDirsUnmodified(),
			DataAdded:           s.GetDataAdded(),
			TotalFilesProcessed: s.GetTotalFilesProcessed(),
			TotalBytesProcessed: s.GetTotalBytesProcessed(),
			DurationSeconds:     s.GetDurationSeconds(),
		}
	case *pb.Event_Error:
		out.Error = &ErrorEvent{Message: p.Error.GetMessage(), Item: p.Error.GetItem(), During: p.Error.GetDuring()}
	case *pb.Event_Data:
		out.Data = &Data{Bytes: p.Data.GetBytes()}
	}
	return out
}

func resultFromProto(r *pb.Result) Result {
	return Result{ExitCode: int(r.GetExitCode()), SnapshotID: r.GetSnapshotId(), Output: r.GetOutput()}
}
