package tweets

import (
	"encoding/binary"
	"math/bits"
	"testing"
)

// special's lowest mark must be the first byte that is not plain, for
// every byte value at every place and whatever follows it.
func TestSpecialFindsTheFirstByteThatIsNotPlain(t *testing.T) {
	var word [8]byte
	for _, fill := range []byte{'a', 0x00, 0x1f, '"', 0xff, 0x80} {
		for place := range 8 {
			for c := range 256 {
				for i := range word {
					word[i] = 'a'
					if i > place {
						word[i] = fill // what follows must not matter
					}
				}
				word[place] = byte(c)
				m := special(binary.LittleEndian.Uint64(word[:]))
				first := bits.TrailingZeros64(m) >> 3
				want := 8 // none before the fill
				if !plainString[c] {
					want = place
				} else if !plainString[fill] && place < 7 {
					want = place + 1
				}
				if first != want {
					t.Fatalf("byte %#x at %d, then %#x: first mark at %d, want %d", c, place, fill, first, want)
				}
			}
		}
	}
}
