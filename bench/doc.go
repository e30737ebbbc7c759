// Package bench holds signsgd's benchmarks and experiments beyond the
// kernels' own: scripts that measure PyTorch on the same shapes so that
// speed is compared within one run (torch_step.py against
// job/nn.BenchmarkStep, gloo_allreduce.py against `signsgd bench comm`, which
// embeds it), and their recorded results. The benchmarks themselves live in
// the sub-packages: figures and theory (the paper's experiments),
// robustness (every method against every attack), comm (bytes and seconds
// of the exchange, scaling, a whole step), runs (`signsgd plot` and
// `signsgd compare` over any run folders) and chaos (`signsgd chaos`:
// randomized kill, stall, signal and resume rounds). Their recorded results
// are in bench/results. What they all read of the machine is here: the
// CPU model and machine line every result file carries (machine.go), and
// the process's CPU time (ProcessCPU) for what an exchange costs.
package bench
