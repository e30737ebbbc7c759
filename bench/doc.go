// Package bench holds signsgd's benchmarks and experiments beyond the
// kernels' own: scripts that measure PyTorch on the same shapes so that
// speed is compared within one run (torch_step.py against
// job/nn.BenchmarkStep), and their recorded results.
package bench
