package kernels

import "math"

// Layers as forward/backward pairs over flat row-major buffers (llm.c
// style). Backward passes accumulate into parameter gradients (callers zero
// them once per step) and overwrite input gradients.

// DenseForward computes out = in W^T + b with one SGEMM.
//
//	in  (B, I)   w (O, I)   b (O)   out (B, O)
func DenseForward(out, in, w, b []float32, batch, nin, nout int) {
	for n := 0; n < batch; n++ {
		copy(out[n*nout:(n+1)*nout], b)
	}
	Sgemm(false, true, batch, nout, nin, 1, in, nin, w, nin, 1, out, nout)
}

// DenseBackward accumulates dW += dOut^T in and dB += sum over the batch of
// dOut, and writes dIn = dOut W (dIn may be nil for the first layer), with
// SGEMM.
//
//	dOut (B, O)   in (B, I)   w, dW (O, I)   dB (O)   dIn (B, I)
func DenseBackward(dIn, dW, dB, dOut, in, w []float32, batch, nin, nout int) {
	Sgemm(true, false, nout, nin, batch, 1, dOut, nout, in, nin, 1, dW, nin)
	for n := 0; n < batch; n++ {
		for o, g := range dOut[n*nout : (n+1)*nout] {
			dB[o] += g
		}
	}
	if dIn != nil {
		Sgemm(false, false, batch, nin, nout, 1, dOut, nout, w, nin, 0, dIn, nin)
	}
}

// DenseForwardNaive is the reference for DenseForward.
func DenseForwardNaive(out, in, w, b []float32, batch, nin, nout int) {
	for n := 0; n < batch; n++ {
		x := in[n*nin : (n+1)*nin]
		y := out[n*nout : (n+1)*nout]
		for o := range y {
			row := w[o*nin : (o+1)*nin]
			s := b[o]
			for i, v := range x {
				s += row[i] * v
			}
			y[o] = s
		}
	}
}

// DenseBackwardNaive is the reference for DenseBackward.
func DenseBackwardNaive(dIn, dW, dB, dOut, in, w []float32, batch, nin, nout int) {
	for n := 0; n < batch; n++ {
		x := in[n*nin : (n+1)*nin]
		g := dOut[n*nout : (n+1)*nout]
		var dx []float32
		if dIn != nil {
			dx = dIn[n*nin : (n+1)*nin]
			clear(dx)
		}
		for o, go_ := range g {
			dB[o] += go_
			row := w[o*nin : (o+1)*nin]
			drow := dW[o*nin : (o+1)*nin]
			for i, v := range x {
				drow[i] += go_ * v
			}
			if dx != nil {
				for i, wv := range row {
					dx[i] += go_ * wv
				}
			}
		}
	}
}

// reluGrain is the fewest values a goroutine of the ReLU passes takes.
const reluGrain = 1 << 15

// ReluForward computes out = max(in, 0); out may alias in. Large inputs
// are split across Threads() goroutines.
func ReluForward(out, in []float32) {
	out = out[:len(in)]
	if Threads() > 1 && len(in) >= 2*reluGrain {
		parallelFor(len(in), reluGrain, func(lo, hi int) { reluForward(out[lo:hi], in[lo:hi]) })
		return
	}
	reluForward(out, in)
}

func reluForward(out, in []float32) {
	out = out[:len(in)]
	k := reluForwardFast(out, in)
	for i, v := range in[k:] {
		out[k+i] = max(v, 0)
	}
}

// ReluForwardNaive is the reference for ReluForward: Go's max(v, 0).
func ReluForwardNaive(out, in []float32) {
	for i, v := range in {
		out[i] = max(v, 0)
	}
}

// ReluBackward computes dIn = dOut where the ReLU's output was positive,
// else 0; dIn may alias dOut. The test is on the bits, without a branch:
// a float32 is > 0 exactly when its bits, read as an int32, are positive
// (an output of max(x, 0) is never NaN unless x was).
func ReluBackward(dIn, dOut, out []float32) {
	dIn, dOut = dIn[:len(out)], dOut[:len(out)]
	if Threads() > 1 && len(out) >= 2*reluGrain {
		parallelFor(len(out), reluGrain, func(lo, hi int) { reluBackward(dIn[lo:hi], dOut[lo:hi], out[lo:hi]) })
		return
	}
	reluBackward(dIn, dOut, out)
}

func reluBackward(dIn, dOut, out []float32) {
	dIn, dOut = dIn[:len(out)], dOut[:len(out)]
	k := reluBackwardFast(dIn, dOut, out)
	dIn, dOut, out = dIn[k:], dOut[k:], out[k:]
	for i, y := range out {
		b := int64(int32(math.Float32bits(y)))
		mask := uint32(-b >> 63) // all ones when b > 0, else 0
		dIn[i] = math.Float32frombits(math.Float32bits(dOut[i]) & mask)
	}
}

// ReluBackwardNaive is the reference for ReluBackward.
func ReluBackwardNaive(dIn, dOut, out []float32) {
	for i, y := range out {
		if y > 0 {
			dIn[i] = dOut[i]
		} else {
			dIn[i] = 0
		}
	}
}

// SoftmaxCrossEntropy returns the mean cross-entropy of logits against
// integer labels and writes its gradient with respect to the logits into
// dLogits (may be nil), and the number of rows whose arg-max is the label.
//
//	logits, dLogits (B, C)   labels (B)
func SoftmaxCrossEntropy(dLogits, logits, labels []float32, batch, classes int) (loss float64, correct int) {
	for n := 0; n < batch; n++ {
		z := logits[n*classes : (n+1)*classes]
		label := int(labels[n])
		mx, arg := argmax(z)
		if arg == label {
			correct++
		}
		// e keeps the exponentials of a few classes for the gradient
		// (computed once); more classes compute them again.
		var e [16]float64
		sum := 0.0
		for c, v := range z {
			x := math.Exp(float64(v - mx))
			if c < len(e) {
				e[c] = x
			}
			sum += x
		}
		loss += math.Log(sum) - float64(z[label]-mx)
		if dLogits != nil {
			d := dLogits[n*classes : (n+1)*classes]
			for c, v := range z {
				x := 0.0
				if c < len(e) {
					x = e[c]
				} else {
					x = math.Exp(float64(v - mx))
				}
				p := x / sum
				if c == label {
					p--
				}
				d[c] = float32(p / float64(batch))
			}
		}
	}
	return loss / float64(batch), correct
}

// argmax returns z's largest value and its first index (NaNs are never
// larger).
func argmax(z []float32) (mx float32, arg int) {
	mx = z[0]
	for c, v := range z {
		if v > mx {
			mx, arg = v, c
		}
	}
	return mx, arg
}

// MeanSquaredError returns mean over the batch of (pred - target)^2 and
// writes its gradient with respect to pred into dPred (may be nil).
//
//	pred, dPred, target (B)
func MeanSquaredError(dPred, pred, target []float32) float64 {
	loss := 0.0
	n := float64(len(pred))
	for i, p := range pred {
		d := float64(p - target[i])
		loss += d * d
		if dPred != nil {
			dPred[i] = float32(2 * d / n)
		}
	}
	return loss / n
}
