package validate

// closest returns the candidate nearest to word by edit distance, or "" when
// none is near enough to be a likely typo. Ties go to the earlier candidate.
func closest(word string, candidates []string) string {
	limit := 2
	if len(word) <= 5 {
		limit = 1
	}
	best, bestDistance := "", limit+1
	for _, c := range candidates {
		if d := distance(word, c); d < bestDistance {
			best, bestDistance = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b, counting a swap
// of two neighbouring letters as one edit because that is a common typo.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 10 // no typo is that long; keep the work bounded
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
