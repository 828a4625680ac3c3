//go:build !linux

package runner

// grandchildren is not implemented outside Linux: waitGone returns at once
// there, and job_finished of a cancelled job may precede restic's exit by up
// to the plugin's kill grace.
func grandchildren() map[int]struct{} { return nil }
