package restic

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// lineReader splits a stream into lines of at most max bytes; the rest of
// a longer line is counted and dropped, so memory stays bounded whatever
// the child prints.
type lineReader struct {
	br  *bufio.Reader
	max int
	buf []byte
}

func newLineReader(r io.Reader, maxLen int) *lineReader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &lineReader{br: br, max: maxLen}
}

// next returns the next line without its line ending. The slice is valid
// until the next call. dropped > 0 means the line was cut after max bytes.
// A last line without a newline is returned before io.EOF.
func (l *lineReader) next() (line []byte, dropped int64, err error) {
	l.buf = l.buf[:0]
	got := false
	for {
		frag, rerr := l.br.ReadSlice('\n')
		got = got || len(frag) > 0
		if rerr == nil {
			frag = frag[:len(frag)-1] // the newline is no content
		}
		if room := l.max - len(l.buf); room >= len(frag) {
			l.buf = append(l.buf, frag...)
		} else {
			l.buf = append(l.buf, frag[:max(room, 0)]...)
			dropped += int64(len(frag) - max(room, 0))
		}
		if rerr == nil {
			break
		}
		if errors.Is(rerr, bufio.ErrBufferFull) {
			continue
		}
		if got {
			break // deliver the partial last line; the error comes next call
		}
		return nil, 0, rerr
	}
	if dropped == 0 {
		l.buf = bytes.TrimSuffix(l.buf, []byte("\r"))
	}
	return l.buf, dropped, nil
}

// boundedReader fails with ErrOutputTooLarge once more than max bytes were
// read since the last reset; it bounds what a json.Decoder may buffer for a
// single document.
type boundedReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.n >= b.max {
		return 0, ErrOutputTooLarge
	}
	if rem := b.max - b.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *boundedReader) reset() { b.n = 0 }
