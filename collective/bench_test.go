package collective

import (
	"fmt"
	"math"
	"testing"

	"signsgd/bench"
)

// BenchmarkExchangeTCP is one steady-state exchange among ranks over
// loopback TCP, in one process (all ranks' goroutines share GOMAXPROCS):
// the fp32 means, GatherFloat32s and BroadcastFloat32s, and the votes of
// dense signs (ties at 0). allocs/op and B/op count every rank together;
// the bytes are one worker's payload each way (4d for the fp32 exchanges,
// d/8 for the votes). The processes of `signsgd bench comm` measure time
// properly; this one is for allocations and quick comparisons, under each
// transport security. cpu-ms/op is the CPU time of every rank together per
// exchange (user and system, from getrusage): on a machine whose ranks
// share cores it is what an exchange costs.
func BenchmarkExchangeTCP(b *testing.B) {
	const d = 11689512
	for _, m := range []int{2, 4} {
		for _, x := range exchanges(m, d, true) {
			for _, sec := range []Security{SecurityOff, SecuritySeal, SecurityAuth} {
				benchExchangeTCP(b, m, d, sec, x.name, x.f)
			}
		}
	}
}

func benchExchangeTCP(b *testing.B, m, d int, sec Security, name string, f func(c Comm) error) {
	b.Run(fmt.Sprintf("%s/ranks=%d/d=%d/security=%s", name, m, d, sec), func(b *testing.B) {
		comms := tcpWorldOpts(&testing.T{}, m, TCPOptions{Security: sec})
		defer func() {
			for _, c := range comms {
				c.Close()
			}
		}()
		l := newRankLoop(comms, f)
		defer l.stop()
		if err := l.run(); err != nil { // warm up
			b.Fatal(err)
		}
		if name[:4] == "vote" {
			b.SetBytes(int64(d / 8))
		} else {
			b.SetBytes(int64(4 * d))
		}
		b.ReportAllocs()
		b.ResetTimer()
		cpu := bench.ProcessCPU()
		for range b.N {
			if err := l.run(); err != nil {
				b.Fatal(err)
			}
		}
		if cpu = bench.ProcessCPU() - cpu; !math.IsNaN(cpu) {
			b.ReportMetric(cpu*1e3/float64(b.N), "cpu-ms/op")
		}
	})
}
