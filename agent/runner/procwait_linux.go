package runner

import (
	"bytes"
	"os"
	"strconv"
)

// grandchildren returns the processes below this agent's children: the
// agent's direct children are its plugins, so these are restic and whatever
// restic started.
func grandchildren() map[int]struct{} { return descendants(os.Getpid(), 2) }

// descendants returns the processes at least minDepth levels below root
// (1: its children and theirs). It reads /proc; on error it returns what it
// found.
func descendants(root, minDepth int) map[int]struct{} {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	out := map[int]struct{}{}
	seen := map[int]bool{root: true}
	var walk func(pid, depth int)
	walk = func(pid, depth int) {
		for _, c := range children[pid] {
			if seen[c] {
				continue
			}
			seen[c] = true
			if depth >= minDepth {
				out[c] = struct{}{}
			}
			walk(c, depth+1)
		}
	}
	walk(root, 1)
	return out
}

// parentOf reads the parent pid from /proc/PID/stat, whose second field
// (the command name, in parentheses) may itself hold spaces and ')'.
func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	fields := bytes.Fields(b[i+1:])
	if len(fields) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(string(fields[1]))
	return ppid, err == nil
}
