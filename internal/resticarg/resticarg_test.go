package resticarg

import "testing"

func TestKeepWithin(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"7d", "1y6m3d4h", "0y1d", "12h", "1000000d"} {
		if err := KeepWithin(ok); err != nil {
			t.Errorf("KeepWithin(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "d", "7", "7w", "1d2d", "0d", "0y0m", "-1d", "1d ", "1000001d", "d7"} {
		if KeepWithin(bad) == nil {
			t.Errorf("KeepWithin(%q) accepted", bad)
		}
	}
}

func TestGroupBy(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"host", "host,paths", "tags,paths,host"} {
		if err := GroupBy(ok); err != nil {
			t.Errorf("GroupBy(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "host,", "host,host", "hosts", "host paths"} {
		if GroupBy(bad) == nil {
			t.Errorf("GroupBy(%q) accepted", bad)
		}
	}
}

func TestReadDataSubset(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"1/5", "256/256", "10%", "2.5%", "100%", "500M", "1g", "4096"} {
		if err := ReadDataSubset(ok); err != nil {
			t.Errorf("ReadDataSubset(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "0/5", "6/5", "1/257", "a/5", "1/", "0%", "100.1%", "%", ".5%", "1e1%", "-5%", "0", "0M", "5X", "-5", "1/+5"} {
		if ReadDataSubset(bad) == nil {
			t.Errorf("ReadDataSubset(%q) accepted", bad)
		}
	}
}
