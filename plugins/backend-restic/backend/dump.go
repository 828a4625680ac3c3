package backend

import (
	"github.com/restic-manager/restic-manager/plugins/backend-restic/restic"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
)

// dumpExtra is the dump kind's Extra: the archive format of a folder.
type dumpExtra struct {
	Archive string `json:"archive"`
}

// dumpJob writes Snapshots[0]'s Paths[0] as Data events.
func dumpJob(a sdk.Args) (restic.Job, error) {
	var x dumpExtra
	if err := decodeExtra(a.Extra, &x); err != nil {
		return nil, err
	}
	if len(a.Snapshots) != 1 {
		return nil, invalidJob("dump needs exactly one snapshot, got %d", len(a.Snapshots))
	}
	if len(a.Paths) != 1 {
		return nil, invalidJob("dump needs exactly one path, got %d", len(a.Paths))
	}
	return restic.DumpJob{Snapshot: a.Snapshots[0], Path: a.Paths[0], Archive: x.Archive}, nil
}
