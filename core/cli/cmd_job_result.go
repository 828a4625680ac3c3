package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// repoCareParams adds the flags of forget, copy and stats to params:
// --to-repo, --mode (merged into params.extra over --params) and
// --snapshot-host.
func (f *runFlags) repoCareParams(params map[string]any) error {
	if f.toRepo != "" {
		params["to_repository"] = f.toRepo
	}
	if f.snapshotHost != "" {
		params["host"] = f.snapshotHost
	}
	if f.mode != "" {
		extra := map[string]any{}
		if raw, ok := params["extra"]; ok {
			m, ok := raw.(map[string]any)
			if !ok {
				return Usagef("--params: extra must be a JSON object to add --mode to it")
			}
			extra = m
		}
		extra["mode"] = f.mode
		params["extra"] = extra
	}
	return nil
}

// forgetPlan is a forget job's summary: the backend's plan (dry run) or
// what it did.
type forgetPlan struct {
	MessageType string   `json:"message_type"`
	DryRun      bool     `json:"dry_run"`
	Kept        []string `json:"kept"`
	Removed     []string `json:"removed"`
	Groups      []struct {
		Host   string         `json:"host"`
		Tags   []string       `json:"tags"`
		Paths  []string       `json:"paths"`
		Keep   []planSnapshot `json:"keep"`
		Remove []planSnapshot `json:"remove"`
	} `json:"groups"`
}

type planSnapshot struct {
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	Reasons []string  `json:"reasons"`
}

// copyResult is a copy job's summary.
type copyResult struct {
	MessageType string `json:"message_type"`
	Copied      []struct {
		Source   string `json:"source"`
		Snapshot string `json:"snapshot"`
	} `json:"copied"`
	Skipped []struct {
		Source   string `json:"source"`
		Snapshot string `json:"snapshot"`
	} `json:"skipped"`
}

// repositoryStats is a stats job's summary in the repository mode.
type repositoryStats struct {
	MessageType            string   `json:"message_type"`
	SnapshotsCount         int      `json:"snapshots_count"`
	TotalSize              uint64   `json:"total_size"`
	TotalFileCount         uint64   `json:"total_file_count"`
	RawDataSize            uint64   `json:"raw_data_size"`
	TotalUncompressedSize  *uint64  `json:"total_uncompressed_size"`
	CompressionRatio       *float64 `json:"compression_ratio"`
	CompressionSpaceSaving *float64 `json:"compression_space_saving"`
	TotalBlobCount         uint64   `json:"total_blob_count"`
	DedupRatio             *float64 `json:"dedup_ratio"`
	SpaceSaving            *float64 `json:"space_saving"`
}

// printJobResult prints what a finished job's summary says, for the kinds
// whose summary is worth reading as text: forget's plan, copy's copies and
// the repository stats. Other kinds print nothing more.
func printJobResult(w io.Writer, j job) {
	if j.Status != "succeeded" || len(j.Summary) == 0 {
		return
	}
	var head struct {
		MessageType string `json:"message_type"`
	}
	if json.Unmarshal(j.Summary, &head) != nil {
		return
	}
	switch head.MessageType {
	case "forget_result":
		var p forgetPlan
		if json.Unmarshal(j.Summary, &p) == nil {
			printForgetPlan(w, p)
		}
	case "copy_result":
		var c copyResult
		if json.Unmarshal(j.Summary, &c) == nil {
			printCopyResult(w, c)
		}
	case "repository_stats":
		var s repositoryStats
		if json.Unmarshal(j.Summary, &s) == nil {
			printRepositoryStats(w, s)
		}
	}
}

func printForgetPlan(w io.Writer, p forgetPlan) {
	total := len(p.Kept) + len(p.Removed)
	if p.DryRun {
		fmt.Fprintf(w, "Dry run: would remove %d of %d snapshots and keep %d (%d groups); nothing was removed.\n",
			len(p.Removed), total, len(p.Kept), len(p.Groups))
	} else {
		fmt.Fprintf(w, "Removed %d of %d snapshots, kept %d (%d groups).\n", len(p.Removed), total, len(p.Kept), len(p.Groups))
	}
	for _, g := range p.Groups {
		var key []string
		if g.Host != "" {
			key = append(key, "host "+sanitize(g.Host))
		}
		if len(g.Paths) > 0 {
			key = append(key, "paths "+sanitize(strings.Join(g.Paths, ", ")))
		}
		if len(g.Tags) > 0 {
			key = append(key, "tags "+sanitize(strings.Join(g.Tags, ", ")))
		}
		if len(key) == 0 {
			key = append(key, "all snapshots")
		}
		fmt.Fprintf(w, "\n%s:\n", strings.Join(key, ", "))
		t := newTable(w, "  ACTION", "SNAPSHOT", "TIME", "REASONS")
		for _, s := range g.Keep {
			t.row("  keep", shortID(s.ID), fmtTime(&s.Time), sanitize(strings.Join(s.Reasons, ", ")))
		}
		verb := "remove"
		if !p.DryRun {
			verb = "removed"
		}
		for _, s := range g.Remove {
			t.row("  "+verb, shortID(s.ID), fmtTime(&s.Time), "")
		}
		_ = t.flush()
	}
}

func printCopyResult(w io.Writer, c copyResult) {
	fmt.Fprintf(w, "Copied %d snapshots", len(c.Copied))
	if len(c.Skipped) > 0 {
		fmt.Fprintf(w, "; %d skipped, copied before", len(c.Skipped))
	}
	fmt.Fprintln(w, ".")
	for _, s := range c.Copied {
		fmt.Fprintf(w, "  %s -> %s\n", sanitize(s.Source), sanitize(s.Snapshot))
	}
	for _, s := range c.Skipped {
		fmt.Fprintf(w, "  %s -> %s (copied before)\n", sanitize(s.Source), sanitize(s.Snapshot))
	}
}

func printRepositoryStats(w io.Writer, s repositoryStats) {
	rows := [][2]string{
		{"Snapshots", fmt.Sprint(s.SnapshotsCount)},
		{"Total size", fmtBytes(s.TotalSize) + fmt.Sprintf(" in %d files", s.TotalFileCount)},
		{"Raw data size", fmtBytes(s.RawDataSize) + fmt.Sprintf(" in %d blobs", s.TotalBlobCount)},
	}
	if s.TotalUncompressedSize != nil {
		rows = append(rows, [2]string{"Uncompressed", fmtBytes(*s.TotalUncompressedSize)})
	}
	if s.CompressionRatio != nil {
		c := fmt.Sprintf("%.2fx", *s.CompressionRatio)
		if s.CompressionSpaceSaving != nil {
			c += fmt.Sprintf(" (%.1f%% saved)", *s.CompressionSpaceSaving)
		}
		rows = append(rows, [2]string{"Compression", c})
	}
	if s.DedupRatio != nil {
		rows = append(rows, [2]string{"Deduplication", fmt.Sprintf("%.2fx", *s.DedupRatio)})
	}
	if s.SpaceSaving != nil {
		rows = append(rows, [2]string{"Space saving", fmt.Sprintf("%.1f%%", *s.SpaceSaving)})
	}
	_ = writeFields(w, rows)
}

func shortID(id string) string { return sanitize(id[:min(8, len(id))]) }
