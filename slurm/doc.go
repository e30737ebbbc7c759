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
//
// # Running on a cluster
//
// Build once on a login node (`make build`; bin/signsgd must be visible
// from the compute nodes), edit the header of signsgd.sbatch for the site
// (--ntasks, the default number of ranks; --cpus-per-task, threads per rank;
// --time; --partition and --account), and submit from the repository's root
// with `signsgd run` flags after the script:
//
//	sbatch slurm/signsgd.sbatch --opt signum --byzantine 2 --epochs 30 --out results/byz2
//	sbatch -n 8 slurm/signsgd.sbatch ...                         8 ranks wherever Slurm finds room
//	sbatch --nodes=4 --ntasks-per-node=8 slurm/signsgd.sbatch ...  32 ranks, 8 a node
//
// The number of ranks is always the number of tasks (--workers, if given,
// must agree). The log is signsgd-<jobid>.out, rank 0's progress lines and
// any rank's error, each naming its rank; the metrics land in --out. The
// script is requeueable and passes --checkpoint-every and --resume, so a
// requeued job resumes; it makes a fresh secret per job for the ranks'
// handshake.
//
// How the ranks find each other: every task runs `bin/signsgd run` under
// srun and reads its rank, the number of ranks, its node's task count and
// CPUs, the job id and the node list from the environment (FromEnv). Rank 0
// listens on all interfaces at a port derived from the job id (DerivePort), in
// [10000, 32000), below the ephemeral ports that outgoing connections take
// (--port to choose one); the others connect to the first node of the list,
// register the address they listen on (an ephemeral port, so ranks sharing
// a node never collide), and receive the table of all ranks. A rank that
// cannot reach rank 0 fails naming it. Threads per rank are the node's CPUs
// divided by its ranks, so a node is never oversubscribed; srun
// --kill-on-bad-exit ends the job as soon as one rank fails.
//
// # mpirun
//
//	mpirun -np 4 bin/signsgd run --opt signum --byzantine 1 --out results/mpi4
//
// (as root add --allow-run-as-root; --oversubscribe for more ranks than
// cores). OMPI_COMM_WORLD_RANK, _SIZE and _LOCAL_RANK win over Slurm's
// variables (under sbatch, mpirun's ranks all see SLURM_PROCID=0). Rank 0
// listens at a port derived from mpirun's job id; on one machine the others
// find it on 127.0.0.1, under sbatch on the allocation's first node, and
// across machines without Slurm --coordinator firsthost:port says where.
// MPI carries no traffic: the ranks talk over signsgd's own TCP.
//
// # Tests
//
// local-slurm.sh up brings up a real single-node Slurm (Debian's slurmctld,
// slurmd and munge; as root) and local-slurm.sh down stops it. The tests in
// cluster_test.go use it to submit sbatch jobs of 4 and 8 ranks, an mpirun
// job, ranks in two network namespaces, a failing job and a requeued one,
// and compare each model's checksum with the local run's.
package slurm
