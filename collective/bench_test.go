package collective

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"signsgd/kernels"
)

// BenchmarkVoteTCP is one server vote of dense signs between ranks over
// loopback TCP, in one process: encode, send, decode, count and back.
func BenchmarkVoteTCP(b *testing.B) {
	for _, m := range []int{2, 4} {
		for _, d := range []int{11689512} {
			b.Run(fmt.Sprintf("ranks=%d/d=%d", m, d), func(b *testing.B) {
				t := &testing.T{}
				comms := tcpWorld(t, m)
				signs := make([]kernels.Signs, m)
				results := make([]kernels.Signs, m)
				rng := rand.New(rand.NewPCG(1, 2))
				for r := range signs {
					signs[r], results[r] = kernels.NewSigns(d), kernels.NewSigns(d)
					for w := range signs[r].NZ {
						signs[r].NZ[w], signs[r].Neg[w] = ^uint64(0), rng.Uint64()
					}
				}
				b.SetBytes(int64(m-1) * int64(d) / 8)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					done := make(chan error, m)
					for r := range comms {
						go func() { done <- VoteServer(comms[r], signs[r], results[r], kernels.VoteOptions{}) }()
					}
					for range comms {
						if err := <-done; err != nil {
							b.Fatal(err)
						}
					}
				}
				b.StopTimer()
				for _, c := range comms {
					c.Close()
				}
			})
		}
	}
}
