package kernels

import (
	"fmt"
	"math"
)

// PyTorch's BatchNorm defaults.
const (
	BatchNormMomentum = 0.1  // weight of the new batch in the running statistics
	BatchNormEps      = 1e-5 // added to the variance before the square root
)

// BatchNormState holds a batch norm's running statistics, one entry per
// channel, with PyTorch's semantics: after each training step
//
//	Mean = (1 - momentum) Mean + momentum batchMean
//	Var  = (1 - momentum) Var  + momentum batchVar * n/(n-1)   (unbiased)
//
// where n = batch*hw values per channel. They start at Mean 0, Var 1
// (NewBatchNormState). A zero BatchNormState (nil slices) tracks nothing.
type BatchNormState struct{ Mean, Var []float32 }

// NewBatchNormState returns running statistics for c channels at their
// initial values (mean 0, variance 1).
func NewBatchNormState(c int) BatchNormState {
	s := BatchNormState{Mean: make([]float32, c), Var: make([]float32, c)}
	for i := range s.Var {
		s.Var[i] = 1
	}
	return s
}

// BatchNormForward normalises each channel of in and applies the affine
// map gamma, beta:
//
//	in, out (B, C, HW)   gamma, beta (C) (nil: 1 and 0)
//	saveMean, saveInvStd (C)   run: BatchNormState of C (or zero)
//
// for (B, C, H, W) activations with hw = H*W, or (B, C) with hw = 1. In
// training mode (train) it uses the batch statistics (biased variance,
// accumulated in float64), writes the batch mean and 1/sqrt(var + eps) into
// saveMean and saveInvStd for BatchNormBackward, and updates run (see
// BatchNormState) unless it is zero; a channel must then have more than one
// value. In evaluation mode it uses run and leaves saveMean and saveInvStd
// alone (they may be nil). out may alias in. Channels are split across
// Threads() goroutines; each channel's sums run in one fixed order, so the
// result does not depend on the threads.
func BatchNormForward(out, in, gamma, beta []float32, batch, c, hw int, train bool, run BatchNormState, momentum, eps float32, saveMean, saveInvStd []float32) {
	batchNormForward("BatchNormForward", out, in, gamma, beta, batch, c, hw, train, run, momentum, eps, saveMean, saveInvStd, false)
}

// BatchNormReluForward is BatchNormForward followed by ReluForward, in one
// pass: out = max(batchnorm(in), 0), bit for bit the two calls' result.
func BatchNormReluForward(out, in, gamma, beta []float32, batch, c, hw int, train bool, run BatchNormState, momentum, eps float32, saveMean, saveInvStd []float32) {
	batchNormForward("BatchNormReluForward", out, in, gamma, beta, batch, c, hw, train, run, momentum, eps, saveMean, saveInvStd, true)
}

// bnGrain is the fewest values one goroutine of the batch norm passes takes.
const bnGrain = 1 << 15

// bnParallel splits channels 0..c-1 of n values across Threads()
// goroutines when there is enough work, and reports whether it did.
func bnParallel(n, c int) (grain int, ok bool) {
	if Threads() <= 1 || n < 2*bnGrain || c < 2 {
		return 0, false
	}
	return max(1, bnGrain/max(1, n/c)), true
}

func batchNormForward(op string, out, in, gamma, beta []float32, batch, c, hw int, train bool, run BatchNormState, momentum, eps float32, saveMean, saveInvStd []float32, relu bool) {
	n := batch * c * hw
	checkBN(op, batch, c, hw, bnBuf{"out", out, n}, bnBuf{"in", in, n})
	checkBNParams(op, batch, c, hw, train, gamma, beta, run, saveMean, saveInvStd)
	if g, ok := bnParallel(n, c); ok {
		parallelFor(c, g, func(c0, c1 int) {
			bnForwardChannels(out, in, gamma, beta, batch, c, hw, train, run, momentum, eps, saveMean, saveInvStd, relu, c0, c1)
		})
		return
	}
	bnForwardChannels(out, in, gamma, beta, batch, c, hw, train, run, momentum, eps, saveMean, saveInvStd, relu, 0, c)
}

// checkBNParams panics on parameters BatchNormForward cannot use.
func checkBNParams(op string, batch, c, hw int, train bool, gamma, beta []float32, run BatchNormState, saveMean, saveInvStd []float32) {
	checkBN(op, batch, c, hw, bnBuf{"gamma", gamma, c}, bnBuf{"beta", beta, c}, bnBuf{"run.Mean", run.Mean, c}, bnBuf{"run.Var", run.Var, c})
	if (run.Mean == nil) != (run.Var == nil) {
		panic("kernels: " + op + ": run has only one of Mean and Var")
	}
	if train {
		checkBN(op, batch, c, hw, bnBuf{"saveMean", saveMean, c}, bnBuf{"saveInvStd", saveInvStd, c})
		if saveMean == nil || saveInvStd == nil {
			panic("kernels: " + op + ": training needs saveMean and saveInvStd")
		}
		if batch*hw < 2 {
			panic(fmt.Sprintf("kernels: %s: training needs more than one value per channel, have batch %d x hw %d", op, batch, hw))
		}
	} else if run.Mean == nil {
		panic("kernels: " + op + ": evaluation needs running statistics")
	}
}

// BatchNormParams are one batch norm's arguments to BatchNormForward
// besides the data and its shape.
type BatchNormParams struct {
	Gamma, Beta          []float32 // (C) or nil: 1 and 0
	Run                  BatchNormState
	Momentum, Eps        float32
	SaveMean, SaveInvStd []float32 // (C), written in training
}

// BatchNormAddReluForward is a residual join in one pass:
//
//	out = max(batchnorm(in; p) + skip, 0)
//	skip = skipIn (an identity shortcut) when sp is nil, else batchnorm(skipIn; sp)
//	out, in, skipIn (B, C, HW)
//
// bit for bit what BatchNormForward on in (and on skipIn) and then AddRelu
// give, with the same statistics saved and running statistics updated,
// without writing the batch norms' outputs. out must not alias in or
// skipIn. Channels are split across Threads() goroutines, each channel's
// statistics computed just before its values are written, while they are
// in cache.
func BatchNormAddReluForward(out, in []float32, p BatchNormParams, skipIn []float32, sp *BatchNormParams, batch, c, hw int, train bool) {
	const op = "BatchNormAddReluForward"
	n := batch * c * hw
	checkBN(op, batch, c, hw, bnBuf{"out", out, n}, bnBuf{"in", in, n}, bnBuf{"skipIn", skipIn, n})
	checkBNParams(op, batch, c, hw, train, p.Gamma, p.Beta, p.Run, p.SaveMean, p.SaveInvStd)
	if sp != nil {
		checkBNParams(op, batch, c, hw, train, sp.Gamma, sp.Beta, sp.Run, sp.SaveMean, sp.SaveInvStd)
	}
	channels := func(c0, c1 int) {
		for ch := c0; ch < c1; ch++ {
			mu, scale, shift := bnChannelAffine(in, p.Gamma, p.Beta, batch, c, hw, train, p.Run, p.Momentum, p.Eps, p.SaveMean, p.SaveInvStd, ch)
			var smu, sscale, sshift float32
			if sp != nil {
				smu, sscale, sshift = bnChannelAffine(skipIn, sp.Gamma, sp.Beta, batch, c, hw, train, sp.Run, sp.Momentum, sp.Eps, sp.SaveMean, sp.SaveInvStd, ch)
			}
			for b := 0; b < batch; b++ {
				o := (b*c + ch) * hw
				x := in[o : o+hw]
				y := out[o : o+hw]
				s := skipIn[o : o+hw]
				y, s = y[:len(x)], s[:len(x)]
				i0 := bnAddReluApply16(y, x, s, mu, scale, shift, smu, sscale, sshift, sp != nil)
				if sp == nil {
					for i := i0; i < len(x); i++ {
						y[i] = max((x[i]-mu)*scale+shift+s[i], 0)
					}
					continue
				}
				for i := i0; i < len(x); i++ {
					y[i] = max((x[i]-mu)*scale+shift+((s[i]-smu)*sscale+sshift), 0)
				}
			}
		}
	}
	if g, ok := bnParallel(n, c); ok {
		parallelFor(c, g, channels)
		return
	}
	channels(0, c)
}

// bnForwardChannels is batchNormForward for channels c0..c1-1.
func bnForwardChannels(out, in, gamma, beta []float32, batch, c, hw int, train bool, run BatchNormState, momentum, eps float32, saveMean, saveInvStd []float32, relu bool, c0, c1 int) {
	for ch := c0; ch < c1; ch++ {
		mu, scale, shift := bnChannelAffine(in, gamma, beta, batch, c, hw, train, run, momentum, eps, saveMean, saveInvStd, ch)
		for b := 0; b < batch; b++ {
			o := (b*c + ch) * hw
			x := in[o : o+hw]
			y := out[o : o+hw]
			y = y[:len(x)]
			i0 := bnFwdApply16(y, x, mu, scale, shift, relu)
			if relu {
				for i := i0; i < len(x); i++ {
					y[i] = max((x[i]-mu)*scale+shift, 0)
				}
				continue
			}
			for i := i0; i < len(x); i++ {
				y[i] = (x[i]-mu)*scale + shift
			}
		}
	}
}

// bnChannelAffine returns channel ch's map out = (x - mu) scale + shift:
// in training from the batch statistics, which it saves and folds into the
// running statistics, else from the running statistics.
func bnChannelAffine(in, gamma, beta []float32, batch, c, hw int, train bool, run BatchNormState, momentum, eps float32, saveMean, saveInvStd []float32, ch int) (mu, scale, shift float32) {
	cnt := float64(batch * hw)
	m := float64(momentum)
	var mean, invstd float64
	if train {
		// Shifted sums: subtracting the channel's first value keeps
		// sum(d^2) - sum(d)^2/n from cancelling when |mean| >> std.
		k := float64(in[ch*hw])
		var s, ss float64
		for b := 0; b < batch; b++ {
			o := (b*c + ch) * hw
			s1, ss1 := shiftedSums(in[o:o+hw], k)
			s += s1
			ss += ss1
		}
		mean = k + s/cnt
		v := max((ss-s*s/cnt)/cnt, 0)
		invstd = 1 / math.Sqrt(v+float64(eps))
		saveMean[ch], saveInvStd[ch] = float32(mean), float32(invstd)
		if run.Mean != nil {
			run.Mean[ch] = float32((1-m)*float64(run.Mean[ch]) + m*mean)
			run.Var[ch] = float32((1-m)*float64(run.Var[ch]) + m*v*cnt/(cnt-1))
		}
	} else {
		mean = float64(run.Mean[ch])
		invstd = 1 / math.Sqrt(float64(run.Var[ch])+float64(eps))
	}
	g, bt := 1.0, 0.0
	if gamma != nil {
		g = float64(gamma[ch])
	}
	if beta != nil {
		bt = float64(beta[ch])
	}
	// out = (x - mu) * scale + shift with mu = float32(mean) and shift
	// correcting for mean - mu: centring first keeps the float32 rounding
	// relative to the spread, not to |mean|.
	mu = float32(mean)
	return mu, float32(g * invstd), float32(bt - (mean-float64(mu))*g*invstd)
}

// shiftedSums returns sum(x - k) and sum((x - k)^2) in float64. Like
// dotCentered and dotCenteredMasked it sums in 16 lanes (lane l takes the
// values 16j + l; the whole blocks of 16 through the AVX-512 kernel where
// the CPU has it, bnSums16) and adds the lanes pairwise at the end
// (bnReduce16), so that every build gives bit for bit the same sums.
func shiftedSums(x []float32, k float64) (s, ss float64) {
	var acc [32]float64
	for i := bnSums16(x, k, &acc); i < len(x); i++ {
		d := float64(x[i]) - k
		acc[i&15] += d
		acc[16+i&15] += float64(d * d)
	}
	return bnReduce16(acc[:16]), bnReduce16(acc[16:])
}

// bnReduce16 adds 16 lanes pairwise: l and l+8, then l and l+4, l and
// l+2, and the last two.
func bnReduce16(a []float64) float64 {
	var b [8]float64
	for l := range b {
		b[l] = a[l] + a[l+8]
	}
	for l := range 4 {
		b[l] += b[l+4]
	}
	b[0] += b[2]
	b[1] += b[3]
	return b[0] + b[1]
}

// BatchNormBackward is the training-mode gradient of BatchNormForward,
// through the batch statistics. With xhat = (x - mean) invstd and N =
// batch*hw values per channel:
//
//	dGamma += sum dOut*xhat   dBeta += sum dOut   (each may be nil)
//	dIn     = gamma invstd / N * (N dOut - sum dOut - xhat sum dOut*xhat)   (overwritten)
//	dOut, in, dIn (B, C, HW)   gamma, dGamma, dBeta, saveMean, saveInvStd (C)
//
// saveMean and saveInvStd are what the forward pass saved; gamma nil means
// 1. dIn may alias dOut. Sums are accumulated in float64. Channels are
// split across Threads() goroutines as in BatchNormForward.
func BatchNormBackward(dIn, dGamma, dBeta, dOut, in, gamma, saveMean, saveInvStd []float32, batch, c, hw int) {
	batchNormBackward("BatchNormBackward", dIn, dGamma, dBeta, dOut, nil, in, gamma, saveMean, saveInvStd, batch, c, hw)
}

// BatchNormReluBackward is the gradient of BatchNormReluForward, whose
// output was out: BatchNormBackward of ReluBackward(dOut, out) in one
// pass, bit for bit the two calls' result. dIn may alias dOut.
func BatchNormReluBackward(dIn, dGamma, dBeta, dOut, out, in, gamma, saveMean, saveInvStd []float32, batch, c, hw int) {
	if out == nil {
		panic("kernels: BatchNormReluBackward: out is required")
	}
	batchNormBackward("BatchNormReluBackward", dIn, dGamma, dBeta, dOut, out, in, gamma, saveMean, saveInvStd, batch, c, hw)
}

// batchNormBackward masks dOut where out <= 0 when out is not nil.
func batchNormBackward(op string, dIn, dGamma, dBeta, dOut, out, in, gamma, saveMean, saveInvStd []float32, batch, c, hw int) {
	n := batch * c * hw
	checkBN(op, batch, c, hw, bnBuf{"dIn", dIn, n}, bnBuf{"dOut", dOut, n}, bnBuf{"in", in, n}, bnBuf{"out", out, n},
		bnBuf{"gamma", gamma, c}, bnBuf{"dGamma", dGamma, c}, bnBuf{"dBeta", dBeta, c},
		bnBuf{"saveMean", saveMean, c}, bnBuf{"saveInvStd", saveInvStd, c})
	if dIn == nil || saveMean == nil || saveInvStd == nil {
		panic("kernels: " + op + ": dIn, saveMean and saveInvStd are required")
	}
	if g, ok := bnParallel(n, c); ok {
		parallelFor(c, g, func(c0, c1 int) {
			bnBackwardChannels(dIn, dGamma, dBeta, dOut, out, in, gamma, saveMean, saveInvStd, batch, c, hw, c0, c1)
		})
		return
	}
	bnBackwardChannels(dIn, dGamma, dBeta, dOut, out, in, gamma, saveMean, saveInvStd, batch, c, hw, 0, c)
}

// bnBackwardChannels is batchNormBackward for channels c0..c1-1.
func bnBackwardChannels(dIn, dGamma, dBeta, dOut, out, in, gamma, saveMean, saveInvStd []float32, batch, c, hw, c0, c1 int) {
	cnt := float64(batch * hw)
	for ch := c0; ch < c1; ch++ {
		mu, inv := saveMean[ch], float64(saveInvStd[ch])
		var sdy, sdyx float64 // sum dOut, sum dOut*(x - mean)
		for b := 0; b < batch; b++ {
			o := (b*c + ch) * hw
			var s1, s2 float64
			if out != nil {
				s1, s2 = dotCenteredMasked(dOut[o:o+hw], out[o:o+hw], in[o:o+hw], mu)
			} else {
				s1, s2 = dotCentered(dOut[o:o+hw], in[o:o+hw], mu)
			}
			sdy += s1
			sdyx += s2
		}
		if dBeta != nil {
			dBeta[ch] += float32(sdy)
		}
		if dGamma != nil {
			dGamma[ch] += float32(sdyx * inv)
		}
		g := 1.0
		if gamma != nil {
			g = float64(gamma[ch])
		}
		// dIn = a dOut - k (x - mean) - b0
		a := g * inv
		k := float32(a * inv * inv * sdyx / cnt)
		b0 := float32(a * sdy / cnt)
		a32 := float32(a)
		for b := 0; b < batch; b++ {
			o := (b*c + ch) * hw
			x := in[o : o+hw]
			dy := dOut[o : o+hw]
			dx := dIn[o : o+hw]
			dy = dy[:len(x)]
			dx = dx[:len(x)]
			if out != nil {
				y := out[o : o+hw]
				y = y[:len(x)]
				for i := bnBwdApply16(dx, dy, y, x, a32, k, mu, b0); i < len(x); i++ {
					dx[i] = a32*reluGrad(dy[i], y[i]) - k*(x[i]-mu) - b0
				}
				continue
			}
			for i := bnBwdApply16(dx, dy, nil, x, a32, k, mu, b0); i < len(x); i++ {
				dx[i] = a32*dy[i] - k*(x[i]-mu) - b0
			}
		}
	}
}

// reluGrad returns g where the ReLU output y is positive, else 0, without
// a branch (as ReluBackward).
func reluGrad(g, y float32) float32 {
	b := int64(int32(math.Float32bits(y)))
	mask := uint32(-b >> 63) // all ones when b > 0, else 0
	return math.Float32frombits(math.Float32bits(g) & mask)
}

// dotCenteredMasked is dotCentered of reluGrad(g, y) (the same sums in the
// same order).
func dotCenteredMasked(g, y, x []float32, mu float32) (s, sx float64) {
	x = x[:len(g)]
	y = y[:len(g)]
	var acc [32]float64
	for i := bnDotsMasked16(g, y, x, mu, &acc); i < len(g); i++ {
		gd := float64(reluGrad(g[i], y[i]))
		acc[i&15] += gd
		acc[16+i&15] += float64(gd * float64(x[i]-mu))
	}
	return bnReduce16(acc[:16]), bnReduce16(acc[16:])
}

// dotCentered returns sum(g) and sum(g*(x - mu)) in float64, x - mu in
// float32 (16 lanes, as shiftedSums).
func dotCentered(g, x []float32, mu float32) (s, sx float64) {
	x = x[:len(g)]
	var acc [32]float64
	for i := bnDots16(g, x, mu, &acc); i < len(g); i++ {
		gd := float64(g[i])
		acc[i&15] += gd
		acc[16+i&15] += float64(gd * float64(x[i]-mu))
	}
	return bnReduce16(acc[:16]), bnReduce16(acc[16:])
}

type bnBuf struct {
	name string
	buf  []float32
	want int
}

// checkBN panics on bad sizes or a non-nil buffer of the wrong length.
func checkBN(op string, batch, c, hw int, bufs ...bnBuf) {
	if batch < 1 || c < 1 || hw < 1 {
		panic(fmt.Sprintf("kernels: %s: batch %d, c %d, hw %d must be positive", op, batch, c, hw))
	}
	for _, b := range bufs {
		if b.buf != nil && len(b.buf) != b.want {
			panic(fmt.Sprintf("kernels: %s: %s has length %d, want %d (batch %d, c %d, hw %d)", op, b.name, len(b.buf), b.want, batch, c, hw))
		}
	}
}
