package job

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"signsgd/collective"
	"signsgd/kernels"
	"signsgd/slurm"
)

// TestSpanOf: where a launcher's ranks run, from the environment it gives
// each rank: the ranks on this node decide when known, else the node list.
func TestSpanOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want hostSpan
	}{
		{"no launcher", nil, hostsUnknown},
		{"srun, one node, 4 tasks", map[string]string{"SLURM_PROCID": "1", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1", "SLURM_STEP_ID": "0",
			"SLURM_STEP_NODELIST": "gpu07", "SLURM_STEP_TASKS_PER_NODE": "4", "SLURM_NODEID": "0"}, hostsOne},
		{"srun, two nodes, 2 tasks each", map[string]string{"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1", "SLURM_STEP_ID": "0",
			"SLURM_STEP_NODELIST": "gpu[07-08]", "SLURM_STEP_TASKS_PER_NODE": "2(x2)", "SLURM_NODEID": "1"}, hostsMany},
		{"srun, two nodes, tasks per node unknown", map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_LOCALID": "0", "SLURM_STEP_ID": "0",
			"SLURM_STEP_NODELIST": "gpu[07-08]"}, hostsMany},
		{"srun, one node, tasks per node unknown", map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_LOCALID": "0", "SLURM_STEP_ID": "0",
			"SLURM_STEP_NODELIST": "gpu07"}, hostsOne},
		{"srun, 3 tasks on 2 nodes, this node has 1", map[string]string{"SLURM_PROCID": "2", "SLURM_NTASKS": "3", "SLURM_LOCALID": "0", "SLURM_STEP_ID": "0",
			"SLURM_STEP_NODELIST": "a,b", "SLURM_STEP_TASKS_PER_NODE": "2,1", "SLURM_NODEID": "1"}, hostsMany},
		{"mpirun, all ranks on this node", map[string]string{"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4",
			"OMPI_COMM_WORLD_LOCAL_RANK": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "4"}, hostsOne},
		// Under sbatch mpirun sees the allocation's node list, which may
		// hold nodes it left idle: the ranks per node win.
		{"mpirun on one node of a two-node allocation", map[string]string{"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "4",
			"OMPI_COMM_WORLD_LOCAL_RANK": "0", "OMPI_COMM_WORLD_LOCAL_SIZE": "4", "SLURM_JOB_NODELIST": "gpu[07-08]"}, hostsOne},
		{"mpirun across two nodes", map[string]string{"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "4",
			"OMPI_COMM_WORLD_LOCAL_RANK": "1", "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "SLURM_JOB_NODELIST": "gpu[07-08]"}, hostsMany},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := slurm.FromEnv(func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if got := spanOf(l); got != tc.want {
				t.Errorf("spanOf(%+v) = %s, want %s", l, got, tc.want)
			}
		})
	}
}

// TestResolveSecurity: the flag's mode when it names one; for auto (or an
// empty flag) off when every rank is on this host, seal otherwise, the
// coordinator's address deciding only when no launcher said where the
// ranks are.
func TestResolveSecurity(t *testing.T) {
	const (
		off  = collective.SecurityOff
		seal = collective.SecuritySeal
		auth = collective.SecurityAuth
	)
	for _, tc := range []struct {
		flag, coord string
		hosts       hostSpan
		want        collective.Security
		why         string // in the reason the start line gives
	}{
		{"auto", "127.0.0.1:5000", hostsUnknown, off, "loopback"},
		{"auto", "localhost:5000", hostsUnknown, off, "loopback"},
		{"auto", "[::1]:5000", hostsUnknown, off, "loopback"},
		{"", "127.0.0.2:5000", hostsUnknown, off, "loopback"},
		{"auto", "10.0.0.7:5000", hostsUnknown, seal, "not on loopback"},
		{"auto", "gpu07:5000", hostsUnknown, seal, "not on loopback"},
		{"", "gpu07:5000", hostsUnknown, seal, "not on loopback"},
		{"auto", "gpu07:5000", hostsOne, off, "one host"},
		{"auto", "gpu07:5000", hostsMany, seal, "more than one host"},
		// A launcher that saw ranks on other hosts is believed over a
		// coordinator that says loopback.
		{"auto", "127.0.0.1:5000", hostsMany, seal, "more than one host"},
		{"off", "gpu07:5000", hostsMany, off, "--transport-security off"},
		{"seal", "127.0.0.1:5000", hostsOne, seal, "--transport-security seal"},
		{"auth", "127.0.0.1:5000", hostsUnknown, auth, "--transport-security auth"},
	} {
		cfg := &Config{TransportSecurity: tc.flag, Coordinator: tc.coord, hosts: tc.hosts}
		got, why, err := resolveSecurity(cfg)
		if err != nil {
			t.Fatalf("%q, %s, %s: %v", tc.flag, tc.coord, tc.hosts, err)
		}
		if got != tc.want || !strings.Contains(why, tc.why) {
			t.Errorf("%q, coordinator %s, %s: %s (%s), want %s (%q)", tc.flag, tc.coord, tc.hosts, got, why, tc.want, tc.why)
		}
	}
	if _, _, err := resolveSecurity(&Config{TransportSecurity: "tls"}); err == nil {
		t.Error("--transport-security tls accepted")
	}
}

// TestLauncherSetsHosts: resolveLauncher hands the launcher's answer to
// resolveSecurity, so ranks of srun on two nodes seal under auto and ranks
// of srun on one node do not, whatever the coordinator's name.
func TestLauncherSetsHosts(t *testing.T) {
	threads, blas := kernels.Threads(), kernels.BLASThreads()
	t.Cleanup(func() { kernels.SetThreads(threads); kernels.SetBLASThreads(blas) })
	for _, tc := range []struct {
		nodes, perNode string
		want           collective.Security
	}{
		{"gpu[07-08]", "2(x2)", collective.SecuritySeal},
		{"gpu07", "4", collective.SecurityOff},
	} {
		env := map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_LOCALID": "0", "SLURM_STEP_ID": "0", "SLURM_JOB_ID": "77",
			"SLURM_STEP_NODELIST": tc.nodes, "SLURM_STEP_TASKS_PER_NODE": tc.perNode, "SLURM_NODEID": "0"}
		cfg := &Config{Rank: -1, Launcher: "auto", Workers: 4, TransportSecurity: "auto", set: map[string]bool{}}
		if _, err := resolveLauncher(cfg, func(k string) string { return env[k] }); err != nil {
			t.Fatal(err)
		}
		got, why, err := resolveSecurity(cfg)
		if err != nil || got != tc.want {
			t.Errorf("srun on %s (%s per node), coordinator %s: %s (%s), %v; want %s", tc.nodes, tc.perNode, cfg.Coordinator, got, why, err, tc.want)
		}
	}
}

// TestSealedJob: ranks started by hand on loopback with
// --transport-security seal train to the end over sealed links; a rank
// with another mode than the others is refused at the handshake, naming
// both modes, and the job does not train.
func TestSealedJob(t *testing.T) {
	cmds, errs := startRanksWith(t, 2, t.TempDir(), func(r int) []string {
		return []string{"--epochs", "1", "--train-limit", "500", "--transport-security", "seal"}
	})
	for r, err := range waitAll(t, cmds, -1, 60*time.Second) {
		if err != nil {
			t.Fatalf("rank %d under seal: %v\n%s", r, err, errs[r])
		}
	}
	out := t.TempDir()
	cmds, errs = startRanksWith(t, 2, out, func(r int) []string {
		mode := []string{"auto", "auth"}[r] // auto: off, the coordinator is on loopback
		return []string{"--epochs", "1", "--train-limit", "500", "--transport-security", mode, "--timeout", "5s"}
	})
	said := ""
	for r, err := range waitAll(t, cmds, -1, 60*time.Second) {
		if err == nil {
			t.Errorf("rank %d of a job with off and auth finished", r)
		}
		said += errs[r].String()
	}
	if want := "rank 1 uses transport security auth, this rank off"; !strings.Contains(said, want) {
		t.Errorf("the ranks said %q, want %q", said, want)
	}
	if _, err := os.Stat(filepath.Join(out, "metrics.jsonl")); err == nil {
		t.Error("a refused job wrote metrics")
	}
}
