package restic

import (
	"fmt"
	"strconv"
	"strings"
)

// maxSubsetParts is restic's largest t in --read-data-subset=n/t (its
// totalBucketsMax, 256 in 0.14 to 0.18).
const maxSubsetParts = 256

// checkReadDataSubset accepts what restic's check --read-data-subset
// takes: "n/t" (1 <= n <= t <= 256), "x%" or "x.y%" (above 0, at most
// 100), or a size in bytes with an optional k, m, g or t suffix (above 0).
// restic would refuse anything else only after opening the repository.
func checkReadDataSubset(s string) error {
	bad := func(why string) error {
		return fmt.Errorf("read-data-subset %q: %s; want n/t (such as 1/5), a percentage (such as 10%%) or a size (such as 500M)", s, why)
	}
	switch {
	case strings.Contains(s, "/"):
		ns, ts, _ := strings.Cut(s, "/")
		n, err1 := strconv.Atoi(ns)
		t, err2 := strconv.Atoi(ts)
		switch {
		case err1 != nil || err2 != nil || !digits(ns) || !digits(ts):
			return bad("n and t must be whole numbers")
		case n < 1 || n > t:
			return bad("n must be from 1 to t")
		case t > maxSubsetParts:
			return bad(fmt.Sprintf("t must be at most %d", maxSubsetParts))
		}
	case strings.HasSuffix(s, "%"):
		num := strings.TrimSuffix(s, "%")
		p, err := strconv.ParseFloat(num, 64)
		if err != nil || num == "" || strings.ContainsAny(num, "eE+-xXpP_") || strings.HasPrefix(num, ".") {
			return bad("not a percentage")
		}
		if p <= 0 || p > 100 {
			return bad("the percentage must be above 0 and at most 100")
		}
	default:
		num := s
		if num != "" && strings.ContainsRune("kKmMgGtT", rune(num[len(num)-1])) {
			num = num[:len(num)-1]
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || !digits(num) {
			return bad("not a size")
		}
		if n <= 0 {
			return bad("the size must be above 0")
		}
	}
	return nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
