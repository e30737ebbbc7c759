package slurm

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Launch is what the launcher told this process.
type Launch struct {
	// Source is "openmpi" or "slurm" when FromEnv found that launcher, ""
	// when nothing was found. FromEnv never sets "flags": callers use it
	// when command-line flags override the environment.
	Source     string
	Rank       int
	Size       int
	LocalRank  int      // rank among the ranks on this node
	LocalSize  int      // ranks on this node (0 if unknown)
	JobID      string   // Slurm job id (and step id if present, e.g. "1234.0"), or OpenMPI's job id, or ""
	Nodes      []string // expanded node list (Slurm), or nil
	CPUsOnNode int      // SLURM_CPUS_ON_NODE when set, else 0
}

// FromEnv reads the environment through getenv (os.Getenv in production).
//
// OpenMPI (OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE,
// OMPI_COMM_WORLD_LOCAL_RANK, OMPI_COMM_WORLD_LOCAL_SIZE) wins when
// present, because under sbatch mpirun launches through srun and
// SLURM_PROCID is 0 in every rank. Under OpenMPI, Nodes comes from
// SLURM_JOB_NODELIST when set, and JobID from SLURM_JOB_ID, else
// OMPI_MCA_orte_ess_jobid, else "".
//
// Otherwise Slurm is used when SLURM_PROCID is set: Size from SLURM_NTASKS
// (or SLURM_NPROCS), LocalRank from SLURM_LOCALID, JobID from SLURM_JOB_ID
// plus "."+SLURM_STEP_ID when set, Nodes from SLURM_STEP_NODELIST or else
// SLURM_JOB_NODELIST, and LocalSize from SLURM_STEP_TASKS_PER_NODE (syntax
// "2(x3),1": three nodes with 2 tasks, then one with 1) at index
// SLURM_NODEID.
//
// In both cases CPUsOnNode comes from SLURM_CPUS_ON_NODE when set. When
// neither launcher is found, FromEnv returns a Launch with Source "" and
// no error. A malformed value (non-numeric, negative, rank >= size, a bad
// hostlist, ...) is an error naming the variable and its value.
func FromEnv(getenv func(string) string) (Launch, error) {
	var l Launch
	var err error
	switch {
	case getenv("OMPI_COMM_WORLD_RANK") != "" || getenv("OMPI_COMM_WORLD_SIZE") != "":
		l, err = fromOpenMPI(getenv)
	case getenv("SLURM_PROCID") != "":
		l, err = fromSlurm(getenv)
	default:
		return Launch{}, nil
	}
	if err != nil {
		return Launch{}, err
	}
	if v := getenv("SLURM_CPUS_ON_NODE"); v != "" {
		if l.CPUsOnNode, err = positive("SLURM_CPUS_ON_NODE", v); err != nil {
			return Launch{}, err
		}
	}
	return l, nil
}

func fromOpenMPI(getenv func(string) string) (Launch, error) {
	l := Launch{Source: "openmpi"}
	var err error
	if l.Rank, l.Size, err = rankAndSize(getenv, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"); err != nil {
		return Launch{}, err
	}
	if l.LocalRank, l.LocalSize, err = local(getenv, l.Size, "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"); err != nil {
		return Launch{}, err
	}
	if l.Nodes, err = nodelist(getenv, "SLURM_JOB_NODELIST"); err != nil {
		return Launch{}, err
	}
	l.JobID = getenv("SLURM_JOB_ID")
	if l.JobID == "" {
		l.JobID = getenv("OMPI_MCA_orte_ess_jobid")
	}
	return l, nil
}

func fromSlurm(getenv func(string) string) (Launch, error) {
	l := Launch{Source: "slurm"}
	sizeVar := "SLURM_NTASKS"
	if getenv(sizeVar) == "" && getenv("SLURM_NPROCS") != "" {
		sizeVar = "SLURM_NPROCS"
	}
	var err error
	if l.Rank, l.Size, err = rankAndSize(getenv, "SLURM_PROCID", sizeVar); err != nil {
		return Launch{}, err
	}
	if l.LocalRank, _, err = local(getenv, l.Size, "SLURM_LOCALID", ""); err != nil {
		return Launch{}, err
	}
	if l.LocalSize, err = stepLocalSize(getenv); err != nil {
		return Launch{}, err
	}
	if l.LocalSize > 0 && l.LocalRank >= l.LocalSize {
		return Launch{}, fmt.Errorf("slurm: SLURM_LOCALID=%q: not below the %d tasks SLURM_STEP_TASKS_PER_NODE=%q gives this node",
			getenv("SLURM_LOCALID"), l.LocalSize, getenv("SLURM_STEP_TASKS_PER_NODE"))
	}
	if l.LocalSize > l.Size {
		return Launch{}, fmt.Errorf("slurm: SLURM_STEP_TASKS_PER_NODE=%q: %d tasks on this node exceed %s=%d",
			getenv("SLURM_STEP_TASKS_PER_NODE"), l.LocalSize, sizeVar, l.Size)
	}
	nodesVar := "SLURM_STEP_NODELIST"
	if getenv(nodesVar) == "" {
		nodesVar = "SLURM_JOB_NODELIST"
	}
	if l.Nodes, err = nodelist(getenv, nodesVar); err != nil {
		return Launch{}, err
	}
	l.JobID = getenv("SLURM_JOB_ID")
	if step := getenv("SLURM_STEP_ID"); l.JobID != "" && step != "" {
		l.JobID += "." + step
	}
	return l, nil
}

// rankAndSize reads a rank and a size that must both be set, with
// 0 <= rank < size.
func rankAndSize(getenv func(string) string, rankVar, sizeVar string) (rank, size int, err error) {
	rv, sv := getenv(rankVar), getenv(sizeVar)
	if rv == "" {
		return 0, 0, fmt.Errorf("slurm: %s is unset but %s=%q is set", rankVar, sizeVar, sv)
	}
	if sv == "" {
		return 0, 0, fmt.Errorf("slurm: %s is unset but %s=%q is set", sizeVar, rankVar, rv)
	}
	if rank, err = nonNegative(rankVar, rv); err != nil {
		return 0, 0, err
	}
	if size, err = positive(sizeVar, sv); err != nil {
		return 0, 0, err
	}
	if rank >= size {
		return 0, 0, fmt.Errorf("slurm: %s=%q: not below %s=%q", rankVar, rv, sizeVar, sv)
	}
	return rank, size, nil
}

// local reads the optional local rank (default 0) and local size (default
// 0, unknown; sizeVar may be "" when there is none), checking them against
// each other and against the world size.
func local(getenv func(string) string, size int, rankVar, sizeVar string) (lrank, lsize int, err error) {
	rv := getenv(rankVar)
	if rv != "" {
		if lrank, err = nonNegative(rankVar, rv); err != nil {
			return 0, 0, err
		}
		if lrank >= size {
			return 0, 0, fmt.Errorf("slurm: %s=%q: not below the world size %d", rankVar, rv, size)
		}
	}
	if sizeVar == "" {
		return lrank, 0, nil
	}
	sv := getenv(sizeVar)
	if sv == "" {
		return lrank, 0, nil
	}
	if lsize, err = positive(sizeVar, sv); err != nil {
		return 0, 0, err
	}
	if lsize > size {
		return 0, 0, fmt.Errorf("slurm: %s=%q: exceeds the world size %d", sizeVar, sv, size)
	}
	if lrank >= lsize {
		return 0, 0, fmt.Errorf("slurm: %s=%q: not below %s=%q", rankVar, rv, sizeVar, sv)
	}
	return lrank, lsize, nil
}

// stepLocalSize returns the number of tasks of this step on this node from
// SLURM_STEP_TASKS_PER_NODE at index SLURM_NODEID, or 0 when unknown. When
// SLURM_NODEID is unset the answer is known only if every node runs the
// same number of tasks.
func stepLocalSize(getenv func(string) string) (int, error) {
	const listVar, idVar = "SLURM_STEP_TASKS_PER_NODE", "SLURM_NODEID"
	list := getenv(listVar)
	if list == "" {
		return 0, nil
	}
	runs, err := parseTasksPerNode(list)
	if err != nil {
		return 0, fmt.Errorf("slurm: %s=%q: %v", listVar, list, err)
	}
	idv := getenv(idVar)
	if idv == "" {
		for _, r := range runs[1:] {
			if r.tasks != runs[0].tasks {
				return 0, nil
			}
		}
		return runs[0].tasks, nil
	}
	id, err := nonNegative(idVar, idv)
	if err != nil {
		return 0, err
	}
	n, ok := tasksOnNode(runs, id)
	if !ok {
		return 0, fmt.Errorf("slurm: %s=%q: beyond the nodes listed in %s=%q", idVar, idv, listVar, list)
	}
	return n, nil
}

// taskRun is one entry of a tasks-per-node list: tasks on each of nodes
// consecutive nodes.
type taskRun struct{ tasks, nodes int }

// parseTasksPerNode parses Slurm's tasks-per-node syntax, e.g. "2(x3),1":
// comma-separated entries "N" or "N(xM)", meaning M nodes with N tasks.
func parseTasksPerNode(s string) ([]taskRun, error) {
	var runs []taskRun
	for i, item := range strings.Split(s, ",") {
		tasksStr, repStr, hasRep := strings.Cut(item, "(x")
		r := taskRun{nodes: 1}
		var err error
		if r.tasks, err = strconv.Atoi(tasksStr); err != nil || r.tasks < 1 || !digitsOnly(tasksStr) {
			return nil, fmt.Errorf("entry %d %q: task count is not a positive integer", i, item)
		}
		if hasRep {
			repStr, ok := strings.CutSuffix(repStr, ")")
			if !ok {
				return nil, fmt.Errorf("entry %d %q: missing ')'", i, item)
			}
			if r.nodes, err = strconv.Atoi(repStr); err != nil || r.nodes < 1 || !digitsOnly(repStr) {
				return nil, fmt.Errorf("entry %d %q: node count is not a positive integer", i, item)
			}
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// tasksOnNode returns the task count of node index id in runs.
func tasksOnNode(runs []taskRun, id int) (int, bool) {
	for _, r := range runs {
		if id < r.nodes {
			return r.tasks, true
		}
		id -= r.nodes
	}
	return 0, false
}

// nodelist expands the hostlist in variable name, nil when unset.
func nodelist(getenv func(string) string, name string) ([]string, error) {
	v := getenv(name)
	if v == "" {
		return nil, nil
	}
	nodes, err := ExpandHostlist(v)
	if err != nil {
		return nil, fmt.Errorf("slurm: %s: %v", name, strings.TrimPrefix(err.Error(), "slurm: "))
	}
	return nodes, nil
}

func nonNegative(name, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || !digitsOnly(v) {
		return 0, fmt.Errorf("slurm: %s=%q: not a non-negative integer", name, v)
	}
	return n, nil
}

func positive(name, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || !digitsOnly(v) {
		return 0, fmt.Errorf("slurm: %s=%q: not a positive integer", name, v)
	}
	return n, nil
}

// digitsOnly reports whether v is all ASCII digits (Atoi also takes signs).
func digitsOnly(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return v != ""
}

// DerivePort returns a TCP port in [10000, 32000) derived deterministically
// from jobID with FNV-1a, so that every rank of a job computes the same
// port without talking, and concurrent jobs on one node likely differ.
// Rank 0 listens there unless --port is given. The range stays below
// Linux's ephemeral ports (32768-60999 by default), which any outgoing
// connection on the node may hold at any moment.
func DerivePort(jobID string) int {
	h := fnv.New32a()
	h.Write([]byte(jobID))
	return 10000 + int(h.Sum32()%22000)
}

// ThreadsPerRank returns how many compute (BLAS) threads each of
// ranksOnNode ranks may use on a node with cpus cores: max(1,
// cpus/ranksOnNode), so that ranks x threads never exceeds the cores
// (unless there are more ranks than cores, where each still gets one).
// When cpus <= 0 or ranksOnNode <= 0 (unknown) it returns 1.
func ThreadsPerRank(cpus, ranksOnNode int) int {
	if cpus <= 0 || ranksOnNode <= 0 {
		return 1
	}
	return max(1, cpus/ranksOnNode)
}
