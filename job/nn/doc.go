// Package nn assembles the kernels' layers into networks: the synthetic
// tasks' MLP, the paper's MNIST networks (cnn, mnistnet) and ResNet-18/50.
//
// Every network keeps all its parameters in one flat float32 vector and
// their gradients in another of the same length (what the optimizers and
// the vote see); each layer's weights are views into them, allocated by an
// Arena once the network is built. Activations are flat. Inputs come
// batch-major (NCHW); the convolutional networks turn them channel-major
// (C, B, H, W) first, where each convolution is one SGEMM over the whole
// batch and batch norm sees each channel as one contiguous run, and back to
// batch-major before their dense layers.
//
//	x (B, C, H, W) -> [to (C, B, H, W)] -> conv, batch norm, pool, ...
//	-> [to (B, features)] -> dense -> logits (B, classes)
//	dLogits -> ... -> Backward of each layer in reverse, accumulating
//	into the gradient views (Net.LossGrad zeroes them first)
package nn
