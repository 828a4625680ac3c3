package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
)

// tree describes the generated backup source.
type tree struct {
	path  string
	files int
	dirs  int
	bytes int64
	// per class: small (1–64 KiB), medium (64 KiB–4 MiB), large (4–64 MiB)
	classFiles [3]int
	classBytes [3]int64
}

// sizeClasses share the tree's bytes: 10% small files, 30% medium, 60%
// large, each size drawn log-uniformly from its range.
var sizeClasses = []struct {
	name     string
	share    float64
	min, max int64
}{
	{"1–64 KiB", 0.10, 1 << 10, 64 << 10},
	{"64 KiB–4 MiB", 0.30, 64 << 10, 4 << 20},
	{"4–64 MiB", 0.60, 4 << 20, 64 << 20},
}

const filesPerDir = 50

// generateTree writes about size bytes of random data (ChaCha8 from seed:
// incompressible, and the same bytes for the same seed) into files of
// mixed sizes spread over two levels of directories.
func generateTree(dir string, size int64, seed uint64) (tree, error) {
	t := tree{path: dir}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) //nolint:gosec // G404: repeatable test data, not secrets
	type file struct {
		class int
		size  int64
	}
	var files []file
	var planned int64
	for c, sc := range sizeClasses {
		budget := int64(float64(size) * sc.share)
		if c == len(sizeClasses)-1 {
			budget = size - planned
		}
		for budget > 0 {
			lo, hi := math.Log(float64(sc.min)), math.Log(float64(sc.max))
			n := min(int64(math.Exp(lo+rng.Float64()*(hi-lo))), budget)
			files = append(files, file{class: c, size: n})
			budget -= n
			planned += n
		}
	}
	rng.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })

	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	src := rand.NewChaCha8(key)
	buf := make([]byte, 1<<20)
	for i, f := range files {
		d := i / filesPerDir
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", d/10), fmt.Sprintf("e%02d", d%10))
		if i%filesPerDir == 0 {
			if err := os.MkdirAll(sub, 0o700); err != nil {
				return t, err
			}
			t.dirs++
		}
		name := filepath.Join(sub, fmt.Sprintf("f%05d.bin", i))
		if err := writeRandom(name, f.size, src, buf); err != nil {
			return t, err
		}
		t.files++
		t.bytes += f.size
		t.classFiles[f.class]++
		t.classBytes[f.class] += f.size
	}
	syscall.Sync()
	return t, nil
}

func writeRandom(name string, size int64, src *rand.ChaCha8, buf []byte) error {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600) //nolint:gosec // G304: a path under our own work directory
	if err != nil {
		return err
	}
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		_, _ = src.Read(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		left -= n
	}
	return f.Close()
}
