package config

import "math"

// EntropyBits estimates how many bits of entropy a secret holds, judged from
// its bytes alone: the Shannon entropy of their frequencies, or of the steps
// between consecutive bytes if that is lower (so "abcdef…" and 0x00 0x01 0x02…
// score near zero), times the number of symbols it takes to write the
// secret when a repeat of four or more earlier bytes counts as one
// ("abcdabcdabcdabcX" takes six: a, b, c, d, the repeat, X). It cannot tell
// a random secret from a hash of a guessable one; it finds what a person
// types or a program counts out: few distinct bytes, a repeated pattern, a
// run. Only the first 1024 bytes are read.
//
// Random data scores well above what production asks, as
// TestEntropyBitsOfRandomSecrets checks: over a million values each, the
// lowest score of `openssl rand -base64 32` output was 183 bits (median
// 215), of `openssl rand -hex 16` 77 (median 116), of 32 random bytes 137
// (median 154).
func EntropyBits(secret []byte) float64 {
	b := secret[:min(len(secret), 1024)]
	if len(b) < 2 {
		return 0
	}
	steps := make([]byte, len(b)-1)
	for i := range steps {
		steps[i] = b[i+1] - b[i]
	}
	return min(shannon(b), shannon(steps)) * float64(symbols(b))
}

// minRepeat is the shortest repeat that symbols counts as one symbol;
// shorter ones recur by chance too often in random hex.
const minRepeat = 4

// symbols returns how many symbols write b when every repeat of minRepeat or
// more bytes that occurred earlier (overlapping allowed) is one symbol: a
// greedy LZ77 parse. Quadratic in len(b), which for a secret read once at
// start-up is nothing.
func symbols(b []byte) int {
	n := 0
	for i := 0; i < len(b); n++ {
		longest := 0
		for j := range i {
			m := 0
			for i+m < len(b) && b[j+m] == b[i+m] {
				m++
			}
			longest = max(longest, m)
		}
		if longest >= minRepeat {
			i += longest
		} else {
			i++
		}
	}
	return n
}

// shannon returns the Shannon entropy, in bits per byte, of b's byte
// frequencies.
func shannon(b []byte) float64 {
	var counts [256]int
	for _, c := range b {
		counts[c]++
	}
	n := float64(len(b))
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
