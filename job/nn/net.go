package nn

import (
	"fmt"

	"signsgd/kernels"
)

// Net is a network with its parameters as one flat vector.
type Net struct {
	Name    string
	In      []int // one sample's shape
	Classes int   // 0: regression with one output and mean squared error
	body    *Sequential
	arena   Arena
	dLogits []float32
}

// Params are all parameters as one vector (views of it are the layers').
func (n *Net) Params() []float32 { return n.arena.data }

// Grads is the gradient of the last LossGrad, same layout as Params.
func (n *Net) Grads() []float32 { return n.arena.grad }

// LossGrad zeroes the gradient, runs b samples x (targets y) forward in
// training mode and back, and returns the mean loss.
func (n *Net) LossGrad(x, y []float32, b int, seed uint64) float64 {
	ctx := &Ctx{Train: true, Seed: seed}
	out := n.body.Forward(ctx, x, b)
	n.dLogits = grow(n.dLogits, len(out))
	var loss float64
	if n.Classes > 0 {
		loss, _ = kernels.SoftmaxCrossEntropy(n.dLogits, out, y, b, n.Classes)
	} else {
		loss = kernels.MeanSquaredError(n.dLogits, out, y[:b])
	}
	kernels.Zero(n.arena.grad)
	n.body.Backward(ctx, n.dLogits, false)
	return loss
}

// Eval runs b samples in evaluation mode and returns the summed loss and
// the number of samples whose label is the top-1 and among the top-5
// outputs (zero for regression).
func (n *Net) Eval(x, y []float32, b int) (lossSum float64, top1, top5 int) {
	out := n.body.Forward(&Ctx{}, x, b)
	if n.Classes == 0 {
		return kernels.MeanSquaredError(nil, out, y[:b]) * float64(b), 0, 0
	}
	loss, correct := kernels.SoftmaxCrossEntropy(nil, out, y, b, n.Classes)
	return loss * float64(b), correct, TopK(out, y, b, n.Classes, 5)
}

// TopK counts the rows of logits (b, classes) whose label is among the k
// largest.
func TopK(logits, labels []float32, b, classes, k int) int {
	hits := 0
	for r := 0; r < b; r++ {
		z := logits[r*classes : (r+1)*classes]
		label := int(labels[r])
		above := 0
		for c, v := range z {
			if v > z[label] || (v == z[label] && c < label) {
				above++
			}
		}
		if above < k {
			hits++
		}
	}
	return hits
}

// Models lists the networks Build knows.
var Models = []string{"mlp", "cnn", "mnistnet", "resnet18", "resnet50"}

// Build makes the named network for samples of shape in and classes
// outputs (0: one regression output), initialised from seed. hidden is the
// hidden width of "mlp" (the synthetic tasks use 40; MNIST 128).
func Build(name string, in []int, classes, hidden int, seed uint64) (*Net, error) {
	n := &Net{Name: name, In: in, Classes: classes}
	bd := &builder{arena: &n.arena, shape: append([]int(nil), in...)}
	outs := max(classes, 1)
	var layers []Layer
	switch name {
	case "mlp":
		layers = []Layer{bd.dense(hidden), &ReLU{}, bd.dense(outs)}
	case "cnn", "mnistnet":
		if len(in) != 3 {
			return nil, fmt.Errorf("model %s needs images (C, H, W), the dataset gives %v", name, in)
		}
		if name == "cnn" {
			layers = cnn(bd, outs)
		} else {
			layers = mnistNet(bd, outs)
		}
	case "resnet18", "resnet50":
		if len(in) != 3 {
			return nil, fmt.Errorf("model %s needs images (C, H, W), the dataset gives %v", name, in)
		}
		layers = resNet(bd, name == "resnet50", outs)
	default:
		return nil, fmt.Errorf("unknown model %q (want %v)", name, Models)
	}
	n.body = &Sequential{Layers: layers}
	n.arena.Alloc(seed)
	return n, nil
}

// cnn is the paper code's TorchNet for MNIST: conv 3x3 32, ReLU, conv 3x3
// 64, ReLU, max pool 2, dropout 0.25, dense 9216-128, ReLU, dropout 0.5,
// dense 10 (1,199,882 parameters).
func cnn(bd *builder, outs int) []Layer {
	return []Layer{
		bd.toChannelMajor(),
		bd.conv(32, 3, 1, 0, true, nil), &ReLU{},
		bd.conv(64, 3, 1, 0, true, nil), &ReLU{},
		bd.maxPool(2, 2, 0), bd.dropout(0.25),
		bd.toBatchMajor(),
		bd.dense(128), &ReLU{}, bd.dropout(0.5),
		bd.dense(outs),
	}
}

// mnistNet is the paper code's second MNIST network: conv 5x5 64 pad 2,
// ReLU, conv 5x5 64 pad 2, ReLU, max pool 2, dropout 0.25, conv 3x3 64 pad
// 1, ReLU, conv 3x3 64 pad 1, ReLU, max pool 2, dropout 0.25, dense
// 3136-128, ReLU, dropout 0.5, dense 10 (580,810 parameters).
func mnistNet(bd *builder, outs int) []Layer {
	return []Layer{
		bd.toChannelMajor(),
		bd.conv(64, 5, 1, 2, true, nil), &ReLU{},
		bd.conv(64, 5, 1, 2, true, nil), &ReLU{},
		bd.maxPool(2, 2, 0), bd.dropout(0.25),
		bd.conv(64, 3, 1, 1, true, nil), &ReLU{},
		bd.conv(64, 3, 1, 1, true, nil), &ReLU{},
		bd.maxPool(2, 2, 0), bd.dropout(0.25),
		bd.toBatchMajor(),
		bd.dense(128), &ReLU{}, bd.dropout(0.5),
		bd.dense(outs),
	}
}

// resNet is torchvision's ResNet-18 (BasicBlock, [2,2,2,2]) or ResNet-50
// (Bottleneck, [3,4,6,3]): conv 7x7/2 64, batch norm, ReLU, max pool 3/2,
// four stages, global average pool, dense; convolutions without bias,
// Kaiming-normal (fan out); ReLU after each residual add.
func resNet(bd *builder, bottleneck bool, outs int) []Layer {
	convBN := func(out, k, stride, pad int) []Layer {
		return []Layer{bd.conv(out, k, stride, pad, false, KaimingNormalFanOut(out*k*k)), bd.batchNorm()}
	}
	// convBNReLU is convBN then a ReLU, fused into the batch norm.
	convBNReLU := func(out, k, stride, pad int) []Layer {
		return []Layer{bd.conv(out, k, stride, pad, false, KaimingNormalFanOut(out*k*k)), bd.batchNormRelu()}
	}
	layers := []Layer{bd.toChannelMajor()}
	layers = append(layers, convBNReLU(64, 7, 2, 3)...)
	layers = append(layers, bd.maxPool(3, 2, 1))
	blocks := []int{2, 2, 2, 2}
	expansion := 1
	if bottleneck {
		blocks, expansion = []int{3, 4, 6, 3}, 4
	}
	for stage, nb := range blocks {
		width := 64 << stage
		for i := 0; i < nb; i++ {
			stride := 1
			if i == 0 && stage > 0 {
				stride = 2
			}
			inShape := append([]int(nil), bd.shape...)
			var main []Layer
			if bottleneck {
				main = append(main, convBNReLU(width, 1, 1, 0)...)
				main = append(main, convBNReLU(width, 3, stride, 1)...)
				main = append(main, convBN(width*expansion, 1, 1, 0)...)
			} else {
				main = append(main, convBNReLU(width, 3, stride, 1)...)
				main = append(main, convBN(width, 3, 1, 1)...)
			}
			outShape := bd.shape
			r := &Residual{Main: &Sequential{Layers: main}}
			if stride != 1 || inShape[0] != width*expansion {
				bd.shape = inShape
				r.Shortcut = &Sequential{Layers: convBN(width*expansion, 1, stride, 0)}
				if fmt.Sprint(bd.shape) != fmt.Sprint(outShape) {
					panic(fmt.Sprintf("nn: shortcut gives %v, block %v", bd.shape, outShape))
				}
			}
			layers = append(layers, r)
		}
	}
	layers = append(layers, bd.globalAvgPool(), bd.toBatchMajor(), bd.dense(outs))
	return layers
}

// ParamCount is the number of parameters of the named model for the given
// input and classes (it builds the model once to count them).
func ParamCount(name string, in []int, classes, hidden int) (int, error) {
	n, err := Build(name, in, classes, hidden, 0)
	if err != nil {
		return 0, err
	}
	return len(n.Params()), nil
}
