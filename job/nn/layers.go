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
	arena  *Arena
	shape  []int          // one sample, without the batch
	layout kernels.Layout // of the activations at this point
	seq    int            // layer counter, for dropout seeds
	cols   *scratch       // the convolutions' shared im2col scratch
}

// scratch is a buffer that layers which need it only during one call share.
type scratch struct{ buf []float32 }

// get returns the buffer resized to n.
func (s *scratch) get(n int) []float32 {
	s.buf = grow(s.buf, n)
	return s.buf
}

// colsScratch returns the scratch the builder's convolutions share.
func (bd *builder) colsScratch() *scratch {
	if bd.cols == nil {
		bd.cols = &scratch{}
	}
	return bd.cols
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
	if bd.layout != kernels.NCHW {
		panic(fmt.Sprintf("nn: dense layer on %v activations: add toBatchMajor first", bd.layout))
	}
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

// Conv is a 2-D convolution (im2col + SGEMM in the kernels), in the
// builder's layout at that point; in the channel-major layout it is one
// SGEMM for the whole batch.
//
//	x (B, inC, H, W)   W (outC, inC, k, k)   bias (outC) or none   y (B, outC, OH, OW)
//	(x (inC, B, H, W) and y (outC, B, OH, OW) when channel-major)
type Conv struct {
	s                  kernels.ConvShape
	w, bias, dw, dbias []float32
	x, y, dx           []float32
	cols               *scratch // shared by the network's convolutions
}

// conv adds a convolution; init nil means PyTorch's default (uniform in
// +-1/sqrt(fan_in)), which the bias always uses.
func (bd *builder) conv(outC, k, stride, pad int, bias bool, init Init) *Conv {
	if len(bd.shape) != 3 {
		panic(fmt.Sprintf("nn: convolution after a layer of shape %v", bd.shape))
	}
	s := kernels.ConvShape{InC: bd.shape[0], InH: bd.shape[1], InW: bd.shape[2], OutC: outC, KH: k, KW: k, Stride: stride, Pad: pad, Batch: 1, Layout: bd.layout}
	if err := s.Check(); err != nil {
		panic("nn: " + err.Error())
	}
	l := &Conv{s: s, cols: bd.colsScratch()}
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
	kernels.Conv2DForward(l.y, x, l.w, l.bias, l.s, l.colsBuf())
	return l.y
}

// colsBuf returns the im2col scratch for the current batch (nil for a
// pointwise convolution, which needs none).
func (l *Conv) colsBuf() []float32 {
	if l.s.KH == 1 && l.s.KW == 1 && l.s.Stride == 1 && l.s.Pad == 0 {
		return nil
	}
	return l.cols.get(l.s.ColsLen())
}

func (l *Conv) Backward(_ *Ctx, dOut []float32, needDIn bool) []float32 {
	var dx []float32
	if needDIn {
		l.dx = grow(l.dx, l.s.Batch*l.s.InC*l.s.InH*l.s.InW)
		dx = l.dx
	}
	kernels.Conv2DBackward(dx, l.dw, l.dbias, dOut, l.x, l.w, l.s, l.colsBuf())
	return dx
}

// BatchNorm normalises each channel (PyTorch's BatchNorm2d: momentum 0.1,
// eps 1e-5, running statistics used in evaluation), followed by a ReLU in
// the same pass when relu is set.
//
//	x, y (B, C, H, W), or (C, B, H, W) when channel-major   gamma, beta (C)
type BatchNorm struct {
	c, hw                  int
	layout                 kernels.Layout
	relu                   bool
	gamma, beta, dg, dbeta []float32
	run                    kernels.BatchNormState
	saveMean, saveInvStd   []float32
	x, y, dx               []float32
	batch                  int
}

// batchNormRelu adds a batch norm followed by a ReLU, fused.
func (bd *builder) batchNormRelu() *BatchNorm {
	l := bd.batchNorm()
	l.relu = true
	return l
}

func (bd *builder) batchNorm() *BatchNorm {
	c := bd.shape[0]
	l := &BatchNorm{c: c, hw: prod(bd.shape[1:]), layout: bd.layout}
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
	nb, hw := l.kernelShape()
	if l.relu {
		kernels.BatchNormReluForward(l.y, x, l.gamma, l.beta, nb, l.c, hw, ctx.Train, l.run, kernels.BatchNormMomentum, kernels.BatchNormEps, l.saveMean, l.saveInvStd)
		return l.y
	}
	kernels.BatchNormForward(l.y, x, l.gamma, l.beta, nb, l.c, hw, ctx.Train, l.run, kernels.BatchNormMomentum, kernels.BatchNormEps, l.saveMean, l.saveInvStd)
	return l.y
}

// params are the layer's arguments to the batch norm kernels.
func (l *BatchNorm) params() kernels.BatchNormParams {
	return kernels.BatchNormParams{Gamma: l.gamma, Beta: l.beta, Run: l.run, Momentum: kernels.BatchNormMomentum, Eps: kernels.BatchNormEps,
		SaveMean: l.saveMean, SaveInvStd: l.saveInvStd}
}

// kernelShape is the (batch, hw) the kernels see: channel-major
// activations are one sample of C channels of B*H*W values.
func (l *BatchNorm) kernelShape() (nb, hw int) {
	if l.layout == kernels.CNHW {
		return 1, l.batch * l.hw
	}
	return l.batch, l.hw
}

func (l *BatchNorm) Backward(_ *Ctx, dOut []float32, needDIn bool) []float32 {
	l.dx = grow(l.dx, len(l.x))
	nb, hw := l.kernelShape()
	if l.relu {
		kernels.BatchNormReluBackward(l.dx, l.dg, l.dbeta, dOut, l.y, l.x, l.gamma, l.saveMean, l.saveInvStd, nb, l.c, hw)
		return l.dx
	}
	kernels.BatchNormBackward(l.dx, l.dg, l.dbeta, dOut, l.x, l.gamma, l.saveMean, l.saveInvStd, nb, l.c, hw)
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

// MaxPool takes the maximum over k x k windows of each plane (either
// layout).
//
//	x (B, C, H, W)   y (B, C, OH, OW)   ((C, B, ...) when channel-major)
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
//	x (B, C, H, W)   y (B, C)   (x (C, B, H, W) and y (C, B) when channel-major)
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

// Relayout converts activations between the two layouts of a batch:
// batch-major (B, C, H, W) to channel-major (C, B, H, W), in which a
// convolution is one SGEMM for the whole batch, at the start of a
// convolutional network, and back before its dense layers.
type Relayout struct {
	toCNHW bool
	c, hw  int
	batch  int
	y, dx  []float32
}

// toChannelMajor adds the conversion to channel-major activations.
func (bd *builder) toChannelMajor() *Relayout {
	if bd.layout == kernels.CNHW {
		panic("nn: toChannelMajor: the activations already are channel-major")
	}
	bd.layout = kernels.CNHW
	return &Relayout{toCNHW: true, c: bd.shape[0], hw: prod(bd.shape[1:])}
}

// toBatchMajor adds the conversion back to batch-major activations.
func (bd *builder) toBatchMajor() *Relayout {
	if bd.layout != kernels.CNHW {
		panic("nn: toBatchMajor: the activations already are batch-major")
	}
	bd.layout = kernels.NCHW
	return &Relayout{c: bd.shape[0], hw: prod(bd.shape[1:])}
}

// swap returns src in the other layout (src itself when one channel or one
// sample makes the two layouts the same).
func (l *Relayout) swap(dst *[]float32, src []float32, toCNHW bool) []float32 {
	if l.c == 1 || l.batch == 1 {
		return src
	}
	*dst = grow(*dst, len(src))
	rows, cols := l.batch, l.c
	if !toCNHW {
		rows, cols = cols, rows
	}
	kernels.TransposeBlocks(*dst, src, rows, cols, l.hw)
	return *dst
}

func (l *Relayout) Forward(_ *Ctx, x []float32, b int) []float32 {
	l.batch = b
	return l.swap(&l.y, x, l.toCNHW)
}

func (l *Relayout) Backward(_ *Ctx, dOut []float32, needDIn bool) []float32 {
	if !needDIn {
		return nil
	}
	return l.swap(&l.dx, dOut, !l.toCNHW)
}

// Sequential runs layers in order.
type Sequential struct{ Layers []Layer }

func (s *Sequential) Forward(ctx *Ctx, x []float32, b int) []float32 {
	for _, l := range s.Layers {
		x = l.Forward(ctx, x, b)
	}
	return x
}

// Backward asks a layer for its input gradient only when the caller
// needs it or a layer before it has parameters: a network's first
// convolution, behind the conversion to channel-major, computes none.
func (s *Sequential) Backward(ctx *Ctx, d []float32, needDIn bool) []float32 {
	first := 0 // the first layer with parameters
	for first < len(s.Layers) && !hasParams(s.Layers[first]) {
		first++
	}
	for i := len(s.Layers) - 1; i >= 0; i-- {
		d = s.Layers[i].Backward(ctx, d, needDIn || i > first)
	}
	return d
}

// hasParams reports whether a layer may have parameters (the layers known
// to have none: relayout, ReLU, pooling, dropout).
func hasParams(l Layer) bool {
	switch l.(type) {
	case *Relayout, *ReLU, *MaxPool, *GlobalAvgPool, *Dropout:
		return false
	}
	return true
}

// Residual is relu(main(x) + shortcut(x)), the shortcut being the identity
// when it is nil (ResNet's blocks); the join and its ReLU are one pass.
type Residual struct {
	Main, Shortcut *Sequential
	y, d, dx       []float32
}

// fuseJoins lets tests turn off Residual's fused join.
var fuseJoins = true

func (r *Residual) Forward(ctx *Ctx, x []float32, b int) []float32 {
	if bn, sbn, ok := r.joinable(); ok && fuseJoins {
		return r.forwardJoined(ctx, x, b, bn, sbn)
	}
	a := r.Main.Forward(ctx, x, b)
	s := x
	if r.Shortcut != nil {
		s = r.Shortcut.Forward(ctx, x, b)
	}
	r.y = grow(r.y, len(a))
	kernels.AddRelu(r.y, a, s)
	return r.y
}

// joinable reports whether the main branch ends in a batch norm without
// ReLU, and the shortcut is the identity (sbn nil) or ends in one too: then
// the two batch norms, the add and the ReLU are one pass.
func (r *Residual) joinable() (bn, sbn *BatchNorm, ok bool) {
	last := func(s *Sequential) *BatchNorm {
		if s == nil || len(s.Layers) == 0 {
			return nil
		}
		if l, isBN := s.Layers[len(s.Layers)-1].(*BatchNorm); isBN && !l.relu {
			return l
		}
		return nil
	}
	if bn = last(r.Main); bn == nil {
		return nil, nil, false
	}
	if r.Shortcut == nil {
		return bn, nil, true
	}
	if sbn = last(r.Shortcut); sbn == nil {
		return nil, nil, false
	}
	return bn, sbn, true
}

// forwardJoined is Forward with the join fused (bit for bit the same):
// the batch norms keep what their Backward needs but write no output.
func (r *Residual) forwardJoined(ctx *Ctx, x []float32, b int, bn, sbn *BatchNorm) []float32 {
	a := x
	for _, l := range r.Main.Layers[:len(r.Main.Layers)-1] {
		a = l.Forward(ctx, a, b)
	}
	s := x
	var sp *kernels.BatchNormParams
	if sbn != nil {
		for _, l := range r.Shortcut.Layers[:len(r.Shortcut.Layers)-1] {
			s = l.Forward(ctx, s, b)
		}
		sbn.x, sbn.batch = s, b
		p := sbn.params()
		sp = &p
	}
	bn.x, bn.batch = a, b
	nb, hw := bn.kernelShape()
	r.y = grow(r.y, len(a))
	kernels.BatchNormAddReluForward(r.y, a, bn.params(), s, sp, nb, bn.c, hw, ctx.Train)
	return r.y
}

func (r *Residual) Backward(ctx *Ctx, dOut []float32, needDIn bool) []float32 {
	r.d = grow(r.d, len(dOut))
	kernels.ReluBackward(r.d, dOut, r.y)
	dMain := r.Main.Backward(ctx, r.d, true)
	dShort := r.d
	if r.Shortcut != nil {
		dShort = r.Shortcut.Backward(ctx, r.d, true)
	}
	r.dx = grow(r.dx, len(dMain))
	kernels.Add(r.dx, dMain, dShort)
	return r.dx
}
