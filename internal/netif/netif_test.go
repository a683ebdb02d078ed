package netif

import "testing"

func TestBlockSizeForMTU(t *testing.T) {
	for mtu, want := range map[int]int{1500: 1468, 1450: 1418, 1400: 1368, 9000: 8968, 576: 544, 65536: 65464, 20: 8} {
		if got := BlockSizeForMTU(mtu); got != want {
			t.Errorf("BlockSizeForMTU(%d) = %d, want %d", mtu, got, want)
		}
	}
}
