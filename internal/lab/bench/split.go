package bench

// Split shares count out over parts as evenly as can be, the larger shares first.
func Split(count, parts int) []int {
	shares := make([]int, parts)
	for i := range shares {
		shares[i] = count / parts
		if i < count%parts {
			shares[i]++
		}
	}
	return shares
}
