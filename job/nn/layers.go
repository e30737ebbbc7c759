package nn

import (
	"fmt"
	"math"

	"signsgd/kernels"
)

// Ctx is what a forward or backward pass needs to know besides the data.
type Ctx struct {
	Train bool   // training mode: batch statistics, dropout on
	Seed  uint64 // this step's seed for dropout masks
}

// Layer is one stage of a network. Forward keeps what Backward needs; the
// returned buffers belong to the layer and stay valid until its next call.
type Layer interface {
	// Forward returns the output for b samples x.
	Forward(ctx *Ctx, x []float32, b int) []float32
	// Backward accumulates the parameter gradients for dOut and returns the
	// input gradient (nil when needDIn is false).
	Backward(ctx *Ctx, dOut []float32, needDIn bool) []float32
}

// grow returns buf resized to n, reusing its memory when it can.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// builder tracks the running sample shape while a network is assembled.
type builder struct {
	arena *Arena
	shape []int // one sample, without the batch
	seq   int   // layer counter, for dropout seeds
}

// Dense is a fully connected layer: y = x W^T + b.
//
//	x (B, in)   W (out, in)   b (out)   y (B, out)
type Dense struct {
	in, out      int
	w, b, dw, db []float32
	x, y, dx     []float32
	batch        int
}

func (bd *builder) dense(out int) *Dense {
	in := prod(bd.shape)
	l := &Dense{in: in, out: out}
	bound := 1 / math.Sqrt(float64(in))
	bd.arena.Add(in*out, &l.w, &l.dw, Uniform(bound))
	bd.arena.Add(out, &l.b, &l.db, Uniform(bound))
	bd.shape = []int{out}
	return l
}

func (l *Dense) Forward(_ *Ctx, x []float32, b int) []float32 {
	l.x, l.batch = x, b
	l.y = grow(l.y, b*l.out)
	kernels.DenseForward(l.y, x, l.w, l.b, b, l.in, l.out)
	return l.y
}

func (l *Dense) Backward(_ *Ctx, dOut []float32, needDIn bool) []float32 {
	var dx []float32
	if needDIn {
		l.dx = grow(l.dx, l.batch*l.in)
		dx = l.dx
	}
	kernels.DenseBackward(dx, l.dw, l.db, dOut, l.x, l.w, l.batch, l.in, l.out)
	return dx
}

// Conv is a 2-D convolution (im2col + SGEMM in the kernels).
//
//	x (B, inC, H, W)   W (outC, inC, k, k)   bias (outC) or none   y (B, outC, OH, OW)
type Conv struct {
	s                  kernels.ConvShape
	w, bias, dw, dbias []float32
	x, y, dx, cols     []float32
}

// conv adds a convolution; init nil means PyTorch's default (uniform in
// +-1/sqrt(fan_in)), which the bias always uses.
func (bd *builder) conv(outC, k, stride, pad int, bias bool, init Init) *Conv {
	if len(bd.shape) != 3 {
		panic(fmt.Sprintf("nn: convolution after a layer of shape %v", bd.shape))
	}
	s := kernels.ConvShape{InC: bd.shape[0], InH: bd.shape[1], InW: bd.shape[2], OutC: outC, KH: k, KW: k, Stride: stride, Pad: pad, Batch: 1}
	if err := s.Check(); err != nil {
		panic("nn: " + err.Error())
	}
	l := &Conv{s: s}
	fanIn := s.InC * k * k
	bound := 1 / math.Sqrt(float64(fanIn))
	if init == nil {
		init = Uniform(bound)
	}
	bd.arena.Add(outC*fanIn, &l.w, &l.dw, init)
	if bias {
		bd.arena.Add(outC, &l.bias, &l.dbias, Uniform(bound))
	}
	bd.shape = []int{outC, s.OutH(), s.OutW()}
	return l
}

func (l *Conv) Forward(_ *Ctx, x []float32, b int) []float32 {
	l.s.Batch = b
	l.x = x
	l.y = grow(l.y, b*l.s.OutC*l.s.OutH()*l.s.OutW())
	l.cols = grow(l.cols, l.s.ColsLen())
	kernels.Conv2DForward(l.y, x, l.w, l.bias, l.s, l.cols)
	return l.y
}

func (l *Conv) Backward(_ *Ctx, dOut []float32, needDIn bool) []float32 {
	var dx []float32
	if needDIn {
		l.dx = grow(l.dx, l.s.Batch*l.s.InC*l.s.InH*l.s.InW)
		dx = l.dx
	}
	kernels.Conv2DBackward(dx, l.dw, l.dbias, dOut, l.x, l.w, l.s, l.cols)
	return dx
}

// BatchNorm normalises each channel (PyTorch's BatchNorm2d: momentum 0.1,
// eps 1e-5, running statistics used in evaluation).
//
//	x, y (B, C, H, W)   gamma, beta (C)
type BatchNorm struct {
	c, hw                  int
	gamma, beta, dg, dbeta []float32
	run                    kernels.BatchNormState
	saveMean, saveInvStd   []float32
	x, y, dx               []float32
	batch                  int
}

func (bd *builder) batchNorm() *BatchNorm {
	c := bd.shape[0]
	l := &BatchNorm{c: c, hw: prod(bd.shape[1:])}
	bd.arena.Add(c, &l.gamma, &l.dg, Const(1))
	bd.arena.Add(c, &l.beta, &l.dbeta, Const(0))
	l.run = kernels.BatchNormState{Mean: make([]float32, c), Var: make([]float32, c)}
	for i := range l.run.Var {
		l.run.Var[i] = 1
	}
	l.saveMean, l.saveInvStd = make([]float32, c), make([]float32, c)
	return l
}

func (l *BatchNorm) Forward(ctx *Ctx, x []float32, b int) []float32 {
	l.x, l.batch = x, b
	l.y = grow(l.y, len(x))
	kernels.BatchNormForward(l.y, x, l.gamma, l.beta, b, l.c, l.hw, ctx.Train, l.run, 0.1, 1e-5, l.saveMean, l.saveInvStd)
	return l.y
}

func (l *BatchNorm) Backward(_ *Ctx, dOut []float32, needDIn bool) []float32 {
	l.dx = grow(l.dx, len(l.x))
	kernels.BatchNormBackward(l.dx, l.dg, l.dbeta, dOut, l.x, l.gamma, l.saveMean, l.saveInvStd, l.batch, l.c, l.hw)
	return l.dx
}

// ReLU is max(x, 0).
type ReLU struct{ y, dx []float32 }

func (l *ReLU) Forward(_ *Ctx, x []float32, _ int) []float32 {
	l.y = grow(l.y, len(x))
	kernels.ReluForward(l.y, x)
	return l.y
}

func (l *ReLU) Backward(_ *Ctx, dOut []float32, _ bool) []float32 {
	l.dx = grow(l.dx, len(dOut))
	kernels.ReluBackward(l.dx, dOut, l.y)
	return l.dx
}

// MaxPool takes the maximum over k x k windows.
//
//	x (B, C, H, W)   y (B, C, OH, OW)
type MaxPool struct {
	c, h, w, k, stride, pad int
	argmax                  []int32
	y, dx                   []float32
	batch                   int
}

func (bd *builder) maxPool(k, stride, pad int) *MaxPool {
	l := &MaxPool{c: bd.shape[0], h: bd.shape[1], w: bd.shape[2], k: k, stride: stride, pad: pad}
	bd.shape = []int{l.c, kernels.PoolOut(l.h, k, stride, pad), kernels.PoolOut(l.w, k, stride, pad)}
	return l
}

func (l *MaxPool) outLen(b int) int {
	return b * l.c * kernels.PoolOut(l.h, l.k, l.stride, l.pad) * kernels.PoolOut(l.w, l.k, l.stride, l.pad)
}

func (l *MaxPool) Forward(_ *Ctx, x []float32, b int) []float32 {
	l.batch = b
	n := l.outLen(b)
	l.y = grow(l.y, n)
	if cap(l.argmax) < n {
		l.argmax = make([]int32, n)
	}
	l.argmax = l.argmax[:n]
	kernels.MaxPool2DForward(l.y, x, l.argmax, b, l.c, l.h, l.w, l.k, l.stride, l.pad)
	return l.y
}

func (l *MaxPool) Backward(_ *Ctx, dOut []float32, _ bool) []float32 {
	l.dx = grow(l.dx, l.batch*l.c*l.h*l.w)
	kernels.MaxPool2DBackward(l.dx, dOut, l.argmax, l.batch, l.c, l.h, l.w, l.k, l.stride, l.pad)
	return l.dx
}

// GlobalAvgPool averages each channel's plane.
//
//	x (B, C, H, W)   y (B, C)
type GlobalAvgPool struct {
	c, hw int
	y, dx []float32
	batch int
}

func (bd *builder) globalAvgPool() *GlobalAvgPool {
	l := &GlobalAvgPool{c: bd.shape[0], hw: prod(bd.shape[1:])}
	bd.shape = []int{l.c}
	return l
}

func (l *GlobalAvgPool) Forward(_ *Ctx, x []float32, b int) []float32 {
	l.batch = b
	l.y = grow(l.y, b*l.c)
	kernels.GlobalAvgPoolForward(l.y, x, b, l.c, l.hw)
	return l.y
}

func (l *GlobalAvgPool) Backward(_ *Ctx, dOut []float32, _ bool) []float32 {
	l.dx = grow(l.dx, l.batch*l.c*l.hw)
	kernels.GlobalAvgPoolBackward(l.dx, dOut, l.batch, l.c, l.hw)
	return l.dx
}

// Dropout zeroes a fraction p of its inputs in training (inverted
// dropout); the mask comes from the step's seed and the layer's index.
type Dropout struct {
	p        float32
	id       uint64
	mask     []float32
	y, dx    []float32
	training bool
}

func (bd *builder) dropout(p float32) *Dropout {
	bd.seq++
	return &Dropout{p: p, id: uint64(bd.seq)}
}

func (l *Dropout) Forward(ctx *Ctx, x []float32, _ int) []float32 {
	l.training = ctx.Train && l.p > 0
	if !l.training {
		return x
	}
	l.y = grow(l.y, len(x))
	l.mask = grow(l.mask, len(x))
	kernels.DropoutForward(l.y, x, l.mask, l.p, ctx.Seed*0x9e3779b97f4a7c15+l.id)
	return l.y
}

func (l *Dropout) Backward(_ *Ctx, dOut []float32, _ bool) []float32 {
	if !l.training {
		return dOut
	}
	l.dx = grow(l.dx, len(dOut))
	kernels.DropoutBackward(l.dx, dOut, l.mask)
	return l.dx
}

// Sequential runs layers in order.
type Sequential struct{ Layers []Layer }

func (s *Sequential) Forward(ctx *Ctx, x []float32, b int) []float32 {
	for _, l := range s.Layers {
		x = l.Forward(ctx, x, b)
	}
	return x
}

func (s *Sequential) Backward(ctx *Ctx, d []float32, needDIn bool) []float32 {
	for i := len(s.Layers) - 1; i >= 0; i-- {
		d = s.Layers[i].Backward(ctx, d, needDIn || i > 0)
	}
	return d
}

// Residual is relu(main(x) + shortcut(x)), the shortcut being the identity
// when it is nil (ResNet's blocks).
type Residual struct {
	Main, Shortcut *Sequential
	sum, dx        []float32
	relu           ReLU
}

func (r *Residual) Forward(ctx *Ctx, x []float32, b int) []float32 {
	a := r.Main.Forward(ctx, x, b)
	s := x
	if r.Shortcut != nil {
		s = r.Shortcut.Forward(ctx, x, b)
	}
	r.sum = grow(r.sum, len(a))
	copy(r.sum, a)
	kernels.AddInPlace(r.sum, s)
	return r.relu.Forward(ctx, r.sum, b)
}

func (r *Residual) Backward(ctx *Ctx, dOut []float32, needDIn bool) []float32 {
	d := r.relu.Backward(ctx, dOut, true)
	dMain := r.Main.Backward(ctx, d, true)
	r.dx = grow(r.dx, len(dMain))
	copy(r.dx, dMain)
	if r.Shortcut != nil {
		kernels.AddInPlace(r.dx, r.Shortcut.Backward(ctx, d, true))
	} else {
		kernels.AddInPlace(r.dx, d)
	}
	return r.dx
}
