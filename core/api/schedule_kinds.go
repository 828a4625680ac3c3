package api

import (
	"slices"
	"strings"

	"github.com/restic-manager/restic-manager/core/store"
)

// Schedules of the maintenance kinds — check, prune, forget, unlock and
// stats — are fired by the agent like backups. They work on the whole
// repository: they take no paths, excludes, tags, secondary repository or
// one-file-system; forget needs a retention policy (applied with restic's
// grouping, to every host's snapshots in the repository), check may read
// a subset of the data, stats refreshes the repository's figures. A prune
// schedule, like a forget that prunes, needs an admin.

// applyKind applies kind and read_data_subset.
func applyKind(s *store.Schedule, req scheduleRequest, bad *problems) {
	if req.Kind != nil {
		k := strings.TrimSpace(*req.Kind)
		if !slices.Contains(store.ScheduleKinds, k) {
			bad.add("kind", "%q: want one of %s", truncateText(k, 40), strings.Join(store.ScheduleKinds, ", "))
			return
		}
		s.Kind = k
	}
	if req.ReadDataSubset != nil {
		s.ReadDataSubset = strings.TrimSpace(*req.ReadDataSubset)
	}
}

// checkKindFields refuses what the schedule's kind does not take.
func checkKindFields(s *store.Schedule, bad *problems) {
	kind := s.Kind
	if kind == "" {
		kind = store.ScheduleBackup
	}
	if s.ReadDataSubset != "" {
		if kind != store.ScheduleCheck {
			bad.add("read_data_subset", "is for check schedules only")
		} else if err := checkReadDataSubset("read_data_subset", s.ReadDataSubset); err != nil {
			bad.add("read_data_subset", "%q is not a subset restic takes (5%%, 1/5, 500M)", truncateText(s.ReadDataSubset, 40))
		}
	}
	if kind == store.ScheduleBackup {
		return
	}
	for field, given := range map[string]bool{
		"paths": len(s.Paths) > 0, "excludes": len(s.Excludes) > 0, "exclude_files": len(s.ExcludeOpts.ExcludeFiles) > 0,
		"exclude_if_present": len(s.ExcludeOpts.ExcludeIfPresent) > 0, "exclude_caches": s.ExcludeOpts.ExcludeCaches,
		"tags": len(s.Tags) > 0, "one_file_system": s.OneFileSystem, "copy_to": s.SecondaryRepositoryID != "",
	} {
		if given {
			bad.add(field, "is for backup schedules only; a %s schedule works on the whole repository", kind)
		}
	}
	switch {
	case kind == store.ScheduleForget && s.Retention.Empty():
		bad.add("retention", "a forget schedule needs a retention policy with at least one keep rule")
	case kind != store.ScheduleForget && kind != store.ScheduleBackup && !s.Retention.Empty():
		bad.add("retention", "is for backup and forget schedules only")
	}
}
