package backend

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc"

	pb "github.com/restic-manager/restic-manager/sdk/backend/proto"
	"github.com/restic-manager/restic-manager/sdk/internal/rpcerr"
)

// registerServer registers impl as the Backend service of s.
func registerServer(s grpc.ServiceRegistrar, impl Backend) {
	pb.RegisterBackendServer(s, &server{impl: impl})
}

// server is the plugin side of a backend plugin.
type server struct {
	pb.UnimplementedBackendServer
	impl Backend
}

// errRunOver is what emit returns once Run has returned.
var errRunOver = errors.New("backend: emit called after Run returned")

// errDataTooLarge is what emit returns for a Data event over MaxDataBytes.
var errDataTooLarge = errors.New("backend: a data event carries more than MaxDataBytes bytes")

func (s *server) Run(req *pb.RunRequest, stream pb.Backend_RunServer) error {
	ctx := stream.Context()
	em := &emitter{ctx: ctx, stream: stream}
	res, err := s.impl.Run(ctx, jobFromProto(req.GetJob()), em.emit)
	em.close()
	if err == nil || !res.isZero() {
		sendErr := stream.Send(&pb.RunResponse{Msg: &pb.RunResponse_Result{Result: resultToProto(res)}})
		if err == nil {
			err = sendErr
		}
	}
	return rpcerr.ToGRPC(err)
}

// emitter is the emit function a Backend's Run gets: it numbers events and
// sends them one at a time, whatever goroutine calls it.
type emitter struct {
	ctx    context.Context
	stream pb.Backend_RunServer

	mu   sync.Mutex
	seq  uint64
	done bool
}

func (em *emitter) emit(ev Event) error {
	if ev.Kind() == "" {
		return errEventPayload
	}
	if ev.Data != nil && len(ev.Data.Bytes) > MaxDataBytes {
		return errDataTooLarge
	}
	em.mu.Lock()
	defer em.mu.Unlock()
	if em.done {
		return errRunOver
	}
	if err := em.ctx.Err(); err != nil {
		return err
	}
	em.seq++
	ev.Seq = em.seq
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if err := em.stream.Send(&pb.RunResponse{Msg: &pb.RunResponse_Event{Event: eventToProto(ev)}}); err != nil {
		if ctxErr := em.ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return err
	}
	return nil
}

func (em *emitter) close() {
	em.mu.Lock()
	em.done = true
	em.mu.Unlock()
}

func jobFromProto(j *pb.Job) Job {
	r, a := j.GetRepository(), j.GetArgs()
	out := Job{
		ID:   j.GetId(),
		Kind: JobKind(j.GetKind()),
		Repository: Repository{
			URL:      r.GetUrl(),
			Password: r.GetPassword(),
			Env:      r.GetEnv(),
		},
		NewPassword: j.GetNewPassword(),
		Args: Args{
			Paths:            a.GetPaths(),
			Excludes:         a.GetExcludes(),
			Tags:             a.GetTags(),
			Host:             a.GetHost(),
			Snapshots:        a.GetSnapshots(),
			Target:           a.GetTarget(),
			Includes:         a.GetIncludes(),
			LimitUploadKiB:   a.GetLimitUploadKib(),
			LimitDownloadKiB: a.GetLimitDownloadKib(),
			DryRun:           a.GetDryRun(),
			Prune:            a.GetPrune(),
			ReadDataSubset:   a.GetReadDataSubset(),
			ToRepository:     a.GetToRepository(),
			Extra:            a.GetExtra(),
		},
	}
	if to := j.GetToRepository(); to != nil {
		out.ToRepository = &Repository{URL: to.GetUrl(), Password: to.GetPassword(), Env: to.GetEnv()}
	}
	if p := a.GetRetention(); p != nil {
		out.Args.Retention = &Retention{
			KeepLast:    int(p.GetKeepLast()),
			KeepHourly:  int(p.GetKeepHourly()),
			KeepDaily:   int(p.GetKeepDaily()),
			KeepWeekly:  int(p.GetKeepWeekly()),
			KeepMonthly: int(p.GetKeepMonthly()),
			KeepYearly:  int(p.GetKeepYearly()),
			KeepWithin:  p.GetKeepWithin(),
			KeepTags:    p.GetKeepTags(),
			GroupBy:     p.GetGroupBy(),
		}
	}
	return out
}

func eventToProto(e Event) *pb.Event {
	out := &pb.Event{Seq: e.Seq}
	if !e.Time.IsZero() {
		out.TimeUnixNano = e.Time.UnixNano()
	}
	switch {
	case e.Progress != nil:
		p := e.Progress
		out.Payload = &pb.Event_Progress{Progress: &pb.Progress{
			PercentDone:      p.PercentDone,
			FilesDone:        p.FilesDone,
			TotalFiles:       p.TotalFiles,
			BytesDone:        p.BytesDone,
			TotalBytes:       p.TotalBytes,
			ErrorCount:       p.ErrorCount,
			SecondsElapsed:   p.SecondsElapsed,
			SecondsRemaining: p.SecondsRemaining,
			CurrentFiles:     p.CurrentFiles,
		}}
	case e.Log != nil:
		out.Payload = &pb.Event_Log{Log: &pb.LogLine{Stream: e.Log.Stream, Text: e.Log.Text}}
	case e.Summary != nil:
		s := e.Summary
		out.Payload = &pb.Event_Summary{Summary: &pb.Summary{
			Raw:                 s.Raw,
			SnapshotId:          s.SnapshotID,
			FilesNew:            s.FilesNew,
			FilesChanged:        s.FilesChanged,
			FilesUnmodified:     s.FilesUnmodified,
			DirsNew:             s.DirsNew,
			DirsChanged:         s.DirsChanged,
			DirsUnmodified:      s.DirsUnmodified,
			DataAdded:           s.DataAdded,
			TotalFilesProcessed: s.TotalFilesProcessed,
			TotalBytesProcessed: s.TotalBytesProcessed,
			DurationSeconds:     s.DurationSeconds,
		}}
	case e.Error != nil:
		out.Payload = &pb.Event_Error{Error: &pb.Error{Message: e.Error.Message, Item: e.Error.Item, During: e.Error.During}}
	case e.Data != nil:
		out.Payload = &pb.Event_Data{Data: &pb.Data{Bytes: e.Data.Bytes}}
	}
	return out
}

func resultToProto(r Result) *pb.Result {
	return &pb.Result{ExitCode: clampInt32(r.ExitCode), SnapshotId: r.SnapshotID, Output: r.Output}
}
