// Package resticarg checks arguments as restic takes them, so that the
// server refuses a bad one with a 400 naming the field and the backend
// refuses it before starting restic, from one definition. Each check
// returns nil or an error saying what is wrong with the value, for the
// caller to prefix with the field's name.
package resticarg

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxSubsetParts is restic's largest t in --read-data-subset=n/t (its
// totalBucketsMax, 256 in 0.14 to 0.18).
const MaxSubsetParts = 256

// maxKeepWithinNumber bounds each number of a --keep-within duration.
const maxKeepWithinNumber = 1_000_000

// KeepWithin checks a --keep-within duration: numbers followed by y, m, d
// or h, such as 7d or 1y6m3d4h, each unit at most once and not all zero
// (restic would then keep nothing by that rule).
func KeepWithin(s string) error {
	bad := errors.New("is not a duration restic takes: numbers followed by y, m, d or h, each unit once and not all zero, such as 7d or 1y6m3d")
	if s == "" {
		return bad
	}
	seen := map[rune]bool{}
	nonZero, num, digits := false, 0, 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			num = num*10 + int(r-'0')
			digits++
			if num > maxKeepWithinNumber {
				return bad
			}
			continue
		}
		if !strings.ContainsRune("ymdh", r) || seen[r] || digits == 0 {
			return bad
		}
		seen[r] = true
		nonZero = nonZero || num > 0
		num, digits = 0, 0
	}
	if digits != 0 || !nonZero {
		return bad
	}
	return nil
}

// GroupBy checks a --group-by list: host, paths and tags, comma-separated,
// each at most once.
func GroupBy(s string) error {
	seen := map[string]bool{}
	for g := range strings.SplitSeq(s, ",") {
		if (g != "host" && g != "paths" && g != "tags") || seen[g] {
			return errors.New("is not a comma-separated list of host, paths and tags, such as host,paths")
		}
		seen[g] = true
	}
	return nil
}

// ReadDataSubset checks check's --read-data-subset: "n/t" (1 <= n <= t <=
// 256), "x%" or "x.y%" (above 0, at most 100), or a size in bytes with an
// optional k, m, g or t suffix (above 0). restic would refuse anything else
// only after opening the repository.
func ReadDataSubset(s string) error {
	bad := func(why string) error {
		return fmt.Errorf("%s; give n/t (such as 1/5), a percentage (such as 10%%) or a size (such as 500M)", why)
	}
	switch {
	case strings.Contains(s, "/"):
		ns, ts, _ := strings.Cut(s, "/")
		n, err1 := strconv.Atoi(ns)
		t, err2 := strconv.Atoi(ts)
		switch {
		case err1 != nil || err2 != nil || !allDigits(ns) || !allDigits(ts):
			return bad("is not n/t with whole numbers")
		case n < 1 || n > t:
			return bad("needs 1 ≤ n ≤ t")
		case t > MaxSubsetParts:
			return bad(fmt.Sprintf("has t above %d", MaxSubsetParts))
		}
	case strings.HasSuffix(s, "%"):
		num := strings.TrimSuffix(s, "%")
		p, err := strconv.ParseFloat(num, 64)
		if err != nil || num == "" || !isDigit(num[0]) || strings.ContainsAny(num, "eE+-xXpP_") {
			return bad("is not a percentage")
		}
		if p <= 0 || p > 100 {
			return bad("is not above 0% and at most 100%")
		}
	default:
		num := s
		if num != "" && strings.ContainsRune("kKmMgGtT", rune(num[len(num)-1])) {
			num = num[:len(num)-1]
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || !allDigits(num) {
			return bad("is not a size")
		}
		if n <= 0 {
			return bad("is not above 0")
		}
	}
	return nil
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
