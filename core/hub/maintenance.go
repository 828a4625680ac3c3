package hub

import (
	"encoding/json"
	"fmt"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// maintenanceParams are the params of a scheduled check, prune, forget,
// unlock or stats job: the backend's Args for the whole repository.
type maintenanceParams struct {
	Retention        *store.Retention `json:"retention,omitempty"`
	Prune            bool             `json:"prune,omitempty"`
	ReadDataSubset   string           `json:"read_data_subset,omitempty"`
	LimitUploadKiB   int64            `json:"limit_upload_kib,omitempty"`
	LimitDownloadKiB int64            `json:"limit_download_kib,omitempty"`
	Extra            *statsExtra      `json:"extra,omitempty"`
}

type statsExtra struct {
	Mode string `json:"mode"`
}

// maintenanceSchedule turns a maintenance schedule into what its agent
// fires: one job of the schedule's kind per run, no follow-up. A stats
// run uses the backend's "repository" mode, whose figures the server
// stores with the repository (repocare.go).
func maintenanceSchedule(s store.Schedule, repo wire.Repository) (wire.Schedule, error) {
	p := maintenanceParams{LimitUploadKiB: s.LimitUploadKiB, LimitDownloadKiB: s.LimitDownloadKiB}
	switch s.Kind {
	case store.ScheduleForget:
		if s.Retention.Empty() {
			return wire.Schedule{}, fmt.Errorf("a forget schedule without a retention policy")
		}
		p.Retention, p.Prune = s.Retention, s.Prune
	case store.ScheduleCheck:
		p.ReadDataSubset = s.ReadDataSubset
	case store.ScheduleStats:
		p.Extra = &statsExtra{Mode: "repository"}
	case store.SchedulePrune, store.ScheduleUnlock:
	default:
		return wire.Schedule{}, fmt.Errorf("unknown schedule kind %q", s.Kind)
	}
	params, err := json.Marshal(p)
	if err != nil {
		return wire.Schedule{}, err
	}
	return wire.Schedule{
		ID: s.ID, Name: s.Name, Kind: s.Kind, Repository: repo, Cron: s.Cron, EverySeconds: s.EverySeconds,
		Timezone: s.Timezone, JitterSeconds: s.JitterSeconds, CatchUp: s.CatchUp, Params: params, UpdatedAt: s.UpdatedAt,
	}, nil
}
