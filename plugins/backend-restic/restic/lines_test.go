package restic

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestLineReader(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 100)
	in := "short\r\n" + long + "\n\nlast-without-newline"
	lr := newLineReader(strings.NewReader(in), 10)
	type line struct {
		text    string
		dropped int64
	}
	var got []line
	for {
		b, dropped, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, line{string(b), dropped})
	}
	want := []line{{"short", 0}, {"xxxxxxxxxx", 90}, {"", 0}, {"last-witho", 10}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestLineReaderBounded feeds a 20 MiB line through a 1 MiB bound in
// small reads: the line is cut, memory stays at the bound.
func TestLineReaderBounded(t *testing.T) {
	t.Parallel()
	const size = 20 << 20
	r := io.MultiReader(io.LimitReader(repeatReader('a'), size), strings.NewReader("\nnext\n"))
	lr := newLineReader(r, DefaultMaxLineBytes)
	b, dropped, err := lr.next()
	if err != nil || len(b) != DefaultMaxLineBytes || dropped != size-DefaultMaxLineBytes {
		t.Fatalf("len %d dropped %d err %v", len(b), dropped, err)
	}
	if cap(lr.buf) > 2*DefaultMaxLineBytes {
		t.Errorf("buffer grew to %d", cap(lr.buf))
	}
	b, _, _ = lr.next()
	if string(b) != "next" {
		t.Errorf("after a long line: %q", b)
	}
}

type repeatReader byte

func (c repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}
