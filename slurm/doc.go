// Package slurm turns what a process launcher left in the environment into
// the three facts a distributed run needs: this process's rank, the number
// of ranks, and the hosts taking part.
//
// It understands Slurm (srun / sbatch steps, SLURM_* variables) and OpenMPI
// (mpirun, OMPI_COMM_WORLD_* variables, including mpirun started inside a
// Slurm allocation), and it expands Slurm's compressed hostlist syntax such
// as "node[01-04,07],gpu[1-2]" the way `scontrol show hostnames` does.
//
// The package knows nothing of training: it only reads strings through a
// getenv function and returns plain values, so it can be tested with fake
// environments and imports nothing but the standard library.
package slurm
