package restic

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// KindDump writes a file or a folder of a snapshot to stdout (`restic
// dump`).
const KindDump Kind = "dump"

// Archive formats of a dumped folder. restic has had both since 0.12, so
// every supported restic (MinVersion) writes either.
const (
	ArchiveTar = "tar"
	ArchiveZip = "zip"
)

// dataChunk is how many bytes of a dump's stdout one Data event carries at
// most (the SDK's MaxDataBytes allows more).
const dataChunk = 64 << 10

// DumpJob writes one file's bytes, or a folder as an archive, from a
// snapshot. Its output is not parsed: it arrives as Data events of raw
// bytes, and a Progress event with the bytes so far about once a second.
type DumpJob struct {
	Snapshot string // id, short id or "latest"
	// Path is the file or folder, absolute as stored in the snapshot.
	Path string
	// Archive is the format of a folder: ArchiveTar (restic's default when
	// empty) or ArchiveZip. A file is written as it is either way.
	Archive string
}

// Data is a piece of a dump's stdout, in order, at most 64 KiB.
type Data struct {
	Meta
	Bytes []byte `json:"bytes"`
}

// Kind implements Job.
func (DumpJob) Kind() Kind { return KindDump }

func (j DumpJob) args(Version) ([]string, error) {
	errs := []error{snapshotRef("snapshot", j.Snapshot)}
	if !strings.HasPrefix(j.Path, "/") {
		errs = append(errs, invalid(fmt.Sprintf("dump path %q is not absolute", j.Path)))
	}
	errs = append(errs, value("path", j.Path))
	switch j.Archive {
	case "", ArchiveTar, ArchiveZip:
	default:
		errs = append(errs, invalid(fmt.Sprintf("archive %q is not tar or zip", j.Archive)))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a := newArgv("dump")
	a.str("archive", j.Archive)
	return a.pos(j.Snapshot, j.Path).list(), nil
}

// readRaw passes a dump's stdout on as Data events, with a Progress event
// (BytesDone) at most once a second. emit blocking holds restic back.
func (p *parser) readRaw(r io.Reader) {
	start := time.Now()
	last := start
	var total uint64
	buf := make([]byte, dataChunk)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			total += uint64(n)
			p.emit(&Data{Bytes: append([]byte(nil), buf[:n]...)})
			if now := time.Now(); now.Sub(last) >= time.Second {
				last = now
				p.emit(&Progress{BytesDone: total, SecondsElapsed: uint64(now.Sub(start).Seconds())})
			}
		}
		if err != nil {
			return
		}
	}
}
