package backend

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/plugins/backend-restic/restic"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
)

// statsRepository is the stats mode of the repository panel: restic's
// raw-data mode (what the repository stores, compression) and its
// restore-size mode (what the snapshots hold), run one after the other and
// reported as one document.
const statsRepository restic.StatsMode = "repository"

// rawDataStats are the fields of `stats --mode raw-data --json`; pointers
// tell a field restic left out (0.14 reports no compression) from a zero.
type rawDataStats struct {
	TotalSize              uint64   `json:"total_size"`
	TotalUncompressedSize  *uint64  `json:"total_uncompressed_size"`
	CompressionRatio       *float64 `json:"compression_ratio"`
	CompressionProgress    *float64 `json:"compression_progress"`
	CompressionSpaceSaving *float64 `json:"compression_space_saving"`
	TotalBlobCount         uint64   `json:"total_blob_count"`
	SnapshotsCount         int      `json:"snapshots_count"`
}

// restoreSizeStats are the fields of `stats --mode restore-size --json`.
type restoreSizeStats struct {
	TotalSize      uint64 `json:"total_size"`
	TotalFileCount uint64 `json:"total_file_count"`
	SnapshotsCount int    `json:"snapshots_count"`
}

// repositoryStatsDoc is the summary and Output of a stats job in the
// repository mode. Fields restic did not report are left out.
type repositoryStatsDoc struct {
	MessageType    string `json:"message_type"`
	SnapshotsCount int    `json:"snapshots_count"`
	// TotalSize is what restoring every snapshot would write
	// (restore-size); TotalFileCount the files in them.
	TotalSize      uint64 `json:"total_size"`
	TotalFileCount uint64 `json:"total_file_count"`
	// RawDataSize is what the repository stores for them (raw-data's
	// total_size, after deduplication and compression).
	RawDataSize            uint64   `json:"raw_data_size"`
	TotalUncompressedSize  *uint64  `json:"total_uncompressed_size,omitempty"`
	CompressionRatio       *float64 `json:"compression_ratio,omitempty"`
	CompressionProgress    *float64 `json:"compression_progress,omitempty"`
	CompressionSpaceSaving *float64 `json:"compression_space_saving,omitempty"`
	TotalBlobCount         uint64   `json:"total_blob_count"`
	// DedupRatio is TotalSize over the deduplicated size before
	// compression (TotalUncompressedSize, else RawDataSize).
	DedupRatio *float64 `json:"dedup_ratio,omitempty"`
	// SpaceSaving is the percentage of TotalSize that deduplication and
	// compression together save: 100 × (1 − RawDataSize/TotalSize).
	SpaceSaving *float64 `json:"space_saving,omitempty"`
}

// repositoryStats runs `stats --mode raw-data`, then `stats --mode
// restore-size`, with sj's filters, streaming both runs' events. Each
// mode's document becomes a "stats" data line (with its "mode"); the
// combined document is the one summary and the Output.
func repositoryStats(ctx context.Context, st *state, repo restic.Repository, sj restic.StatsJob,
	emit func(sdk.Event) error, log hclog.Logger,
) (sdk.Result, error) {
	var (
		raw  rawDataStats
		size restoreSizeStats
		got  = map[restic.StatsMode]bool{}
	)
	for _, mode := range []restic.StatsMode{restic.StatsRawData, restic.StatsRestoreSize} {
		job := sj
		job.Mode = mode
		conv := newConverter(restic.KindStats, maxOutputBytes)
		forward := func(ev restic.Event) error {
			s, ok := ev.(*restic.Stats)
			if !ok {
				for _, out := range conv.convert(ev) {
					if err := emit(out); err != nil {
						return err
					}
				}
				return nil
			}
			var target any = &raw
			if mode == restic.StatsRestoreSize {
				target = &size
			}
			if err := json.Unmarshal(s.Raw, target); err != nil {
				return emit(logEvent(sdk.StreamStderr, fmt.Sprintf("[backend-restic: cannot read restic's %s stats: %v]", mode, err)))
			}
			got[mode] = true
			return emit(statsLine(mode, s.Raw))
		}
		res, err := st.runner.Run(ctx, repo, job, forward)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				err = fmt.Errorf("restic stats cancelled: %w", ctxErr)
			}
			log.Debug("job failed", "exit_code", res.ExitCode, "stats_mode", string(mode), "error", err)
			return sdk.Result{ExitCode: res.ExitCode}, runError(err)
		}
		if !got[mode] {
			return sdk.Result{ExitCode: res.ExitCode}, fmt.Errorf("restic stats --mode %s printed no statistics", mode)
		}
	}
	doc := combineStats(raw, size)
	out, err := json.Marshal(doc)
	if err != nil {
		return sdk.Result{}, fmt.Errorf("encode repository stats: %w", err)
	}
	if err := emit(sdk.Event{Summary: &sdk.Summary{Raw: out}}); err != nil {
		return sdk.Result{}, err
	}
	log.Debug("job finished", "snapshots", doc.SnapshotsCount)
	return sdk.Result{Output: out}, nil
}

func combineStats(raw rawDataStats, size restoreSizeStats) repositoryStatsDoc {
	doc := repositoryStatsDoc{
		MessageType:            msgRepoStats,
		SnapshotsCount:         size.SnapshotsCount,
		TotalSize:              size.TotalSize,
		TotalFileCount:         size.TotalFileCount,
		RawDataSize:            raw.TotalSize,
		TotalUncompressedSize:  raw.TotalUncompressedSize,
		CompressionRatio:       raw.CompressionRatio,
		CompressionProgress:    raw.CompressionProgress,
		CompressionSpaceSaving: raw.CompressionSpaceSaving,
		TotalBlobCount:         raw.TotalBlobCount,
	}
	deduped := raw.TotalSize
	if raw.TotalUncompressedSize != nil && *raw.TotalUncompressedSize > 0 {
		deduped = *raw.TotalUncompressedSize
	}
	if deduped > 0 {
		r := float64(size.TotalSize) / float64(deduped)
		doc.DedupRatio = &r
	}
	if size.TotalSize > 0 {
		s := 100 * (1 - float64(raw.TotalSize)/float64(size.TotalSize))
		doc.SpaceSaving = &s
	}
	return doc
}

// statsLine is the data line of one mode's document: restic's fields with
// "message_type":"stats" and the mode added.
func statsLine(mode restic.StatsMode, raw json.RawMessage) sdk.Event {
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return logEvent(sdk.StreamStdout, string(raw))
	}
	fields["mode"], _ = json.Marshal(string(mode))
	doc, err := json.Marshal(fields)
	if err != nil {
		return logEvent(sdk.StreamStdout, string(raw))
	}
	return dataLine(msgStats, doc)
}
