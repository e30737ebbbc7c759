package slurm

import (
	"reflect"
	"strings"
	"testing"
)

// env returns a getenv over m, "" for unset names.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestFromEnv(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		want    Launch
		wantErr []string // substrings of the error; nil for success
	}{
		{
			name: "nothing set",
			env:  map[string]string{"HOME": "/root", "PATH": "/bin"},
			want: Launch{},
		},
		{
			name: "slurm srun",
			env: map[string]string{
				"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1",
				"SLURM_JOB_ID": "1234", "SLURM_STEP_ID": "0",
				"SLURM_JOB_NODELIST": "node[01-08]", "SLURM_STEP_NODELIST": "node[03-04,07]",
				"SLURM_CPUS_ON_NODE": "32", "SLURM_NODEID": "1",
				"SLURM_STEP_TASKS_PER_NODE": "3,4,1",
			},
			want: Launch{Source: "slurm", Rank: 5, Size: 8, LocalRank: 1, LocalSize: 4,
				JobID: "1234.0", Nodes: []string{"node03", "node04", "node07"}, CPUsOnNode: 32},
		},
		{
			name: "slurm minimal, SLURM_NPROCS, job nodelist",
			env: map[string]string{
				"SLURM_PROCID": "0", "SLURM_NPROCS": "2", "SLURM_JOB_ID": "77",
				"SLURM_JOB_NODELIST": "localhost",
			},
			want: Launch{Source: "slurm", Rank: 0, Size: 2, JobID: "77", Nodes: []string{"localhost"}},
		},
		{
			name: "slurm tasks per node with repeats",
			env: map[string]string{
				"SLURM_PROCID": "6", "SLURM_NTASKS": "7", "SLURM_LOCALID": "0",
				"SLURM_NODEID": "3", "SLURM_STEP_TASKS_PER_NODE": "2(x3),1",
			},
			want: Launch{Source: "slurm", Rank: 6, Size: 7, LocalSize: 1},
		},
		{
			name: "slurm uniform tasks per node without SLURM_NODEID",
			env: map[string]string{
				"SLURM_PROCID": "3", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1",
				"SLURM_STEP_TASKS_PER_NODE": "2(x2)",
			},
			want: Launch{Source: "slurm", Rank: 3, Size: 4, LocalRank: 1, LocalSize: 2},
		},
		{
			name: "slurm uneven tasks per node without SLURM_NODEID",
			env: map[string]string{
				"SLURM_PROCID": "3", "SLURM_NTASKS": "4",
				"SLURM_STEP_TASKS_PER_NODE": "3,1",
			},
			want: Launch{Source: "slurm", Rank: 3, Size: 4},
		},
		{
			name: "openmpi only",
			env: map[string]string{
				"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4",
				"OMPI_COMM_WORLD_LOCAL_RANK": "0", "OMPI_COMM_WORLD_LOCAL_SIZE": "2",
				"OMPI_MCA_orte_ess_jobid": "3735552001",
			},
			want: Launch{Source: "openmpi", Rank: 2, Size: 4, LocalRank: 0, LocalSize: 2, JobID: "3735552001"},
		},
		{
			name: "openmpi without local variables",
			env:  map[string]string{"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "1"},
			want: Launch{Source: "openmpi", Rank: 0, Size: 1},
		},
		{
			name: "openmpi under slurm: OMPI rank wins over SLURM_PROCID=0",
			env: map[string]string{
				"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "8",
				"OMPI_COMM_WORLD_LOCAL_RANK": "3", "OMPI_COMM_WORLD_LOCAL_SIZE": "4",
				"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_LOCALID": "0",
				"SLURM_JOB_ID": "1234", "SLURM_STEP_ID": "0",
				"SLURM_JOB_NODELIST": "gpu[1-2]", "SLURM_STEP_NODELIST": "gpu1",
				"SLURM_CPUS_ON_NODE": "16", "OMPI_MCA_orte_ess_jobid": "999",
			},
			want: Launch{Source: "openmpi", Rank: 3, Size: 8, LocalRank: 3, LocalSize: 4,
				JobID: "1234", Nodes: []string{"gpu1", "gpu2"}, CPUsOnNode: 16},
		},

		{name: "non-numeric SLURM_PROCID", env: map[string]string{"SLURM_PROCID": "x", "SLURM_NTASKS": "2"},
			wantErr: []string{`SLURM_PROCID="x"`, "non-negative integer"}},
		{name: "negative SLURM_PROCID", env: map[string]string{"SLURM_PROCID": "-1", "SLURM_NTASKS": "2"},
			wantErr: []string{`SLURM_PROCID="-1"`}},
		{name: "signed SLURM_PROCID", env: map[string]string{"SLURM_PROCID": "+1", "SLURM_NTASKS": "2"},
			wantErr: []string{`SLURM_PROCID="+1"`}},
		{name: "zero SLURM_NTASKS", env: map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "0"},
			wantErr: []string{`SLURM_NTASKS="0"`, "positive integer"}},
		{name: "missing SLURM_NTASKS", env: map[string]string{"SLURM_PROCID": "0"},
			wantErr: []string{"SLURM_NTASKS is unset"}},
		{name: "rank >= size", env: map[string]string{"SLURM_PROCID": "4", "SLURM_NTASKS": "4"},
			wantErr: []string{`SLURM_PROCID="4"`, `SLURM_NTASKS="4"`}},
		{name: "bad SLURM_LOCALID", env: map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_LOCALID": "1.5"},
			wantErr: []string{`SLURM_LOCALID="1.5"`}},
		{name: "bad SLURM_CPUS_ON_NODE", env: map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_CPUS_ON_NODE": "lots"},
			wantErr: []string{`SLURM_CPUS_ON_NODE="lots"`}},
		{name: "bad SLURM_STEP_NODELIST", env: map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_STEP_NODELIST": "n[3-1]"},
			wantErr: []string{"SLURM_STEP_NODELIST", `"n[3-1]"`, "byte 2", "reversed"}},
		{name: "bad SLURM_STEP_TASKS_PER_NODE", env: map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_NODEID": "0", "SLURM_STEP_TASKS_PER_NODE": "2(x2"},
			wantErr: []string{`SLURM_STEP_TASKS_PER_NODE="2(x2"`, "missing ')'"}},
		{name: "SLURM_NODEID beyond tasks per node", env: map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_NODEID": "2", "SLURM_STEP_TASKS_PER_NODE": "2(x2)"},
			wantErr: []string{`SLURM_NODEID="2"`, "beyond"}},
		{name: "SLURM_LOCALID not below local size", env: map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "4", "SLURM_LOCALID": "2", "SLURM_NODEID": "0", "SLURM_STEP_TASKS_PER_NODE": "2(x2)"},
			wantErr: []string{`SLURM_LOCALID="2"`}},
		{name: "OMPI size missing", env: map[string]string{"OMPI_COMM_WORLD_RANK": "1"},
			wantErr: []string{"OMPI_COMM_WORLD_SIZE is unset"}},
		{name: "OMPI rank missing", env: map[string]string{"OMPI_COMM_WORLD_SIZE": "2"},
			wantErr: []string{"OMPI_COMM_WORLD_RANK is unset"}},
		{name: "OMPI rank >= size", env: map[string]string{"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "2"},
			wantErr: []string{`OMPI_COMM_WORLD_RANK="2"`}},
		{name: "OMPI local rank >= local size", env: map[string]string{"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"},
			wantErr: []string{`OMPI_COMM_WORLD_LOCAL_RANK="2"`, `OMPI_COMM_WORLD_LOCAL_SIZE="2"`}},
		{name: "OMPI local size > size", env: map[string]string{"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "3"},
			wantErr: []string{`OMPI_COMM_WORLD_LOCAL_SIZE="3"`}},
		{name: "OMPI with bad SLURM_JOB_NODELIST", env: map[string]string{"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "2", "SLURM_JOB_NODELIST": "n[1-2"},
			wantErr: []string{"SLURM_JOB_NODELIST", "unbalanced"}},
	}
	for _, c := range cases {
		got, err := FromEnv(env(c.env))
		if c.wantErr != nil {
			if err == nil {
				t.Errorf("%s: FromEnv = %+v, want error", c.name, got)
				continue
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("%s: error spans lines: %q", c.name, msg)
			}
			for _, w := range c.wantErr {
				if !strings.Contains(msg, w) {
					t.Errorf("%s: error %q does not contain %q", c.name, msg, w)
				}
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: FromEnv error: %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: FromEnv =\n %+v\nwant\n %+v", c.name, got, c.want)
		}
	}
}

func TestParseTasksPerNode(t *testing.T) {
	runs, err := parseTasksPerNode("2(x3),1,4(x2)")
	if err != nil {
		t.Fatal(err)
	}
	want := []int{2, 2, 2, 1, 4, 4}
	for id, w := range want {
		if n, ok := tasksOnNode(runs, id); !ok || n != w {
			t.Errorf("node %d: got %d, %v; want %d", id, n, ok, w)
		}
	}
	if _, ok := tasksOnNode(runs, len(want)); ok {
		t.Errorf("node %d: found, want beyond the list", len(want))
	}
	// A huge repeat count must not be expanded.
	runs, err = parseTasksPerNode("1(x1000000000),7")
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := tasksOnNode(runs, 1000000000); !ok || n != 7 {
		t.Errorf("node 1e9: got %d, %v; want 7", n, ok)
	}
	for _, bad := range []string{"", ",", "2,", "x", "0", "-1", "+2", "2(x0)", "2(x)", "2(x3", "2(3)", "2(x3)4", "2(x-1)", " 2"} {
		if _, err := parseTasksPerNode(bad); err == nil {
			t.Errorf("parseTasksPerNode(%q): no error", bad)
		}
	}
}

func TestDerivePort(t *testing.T) {
	seen := map[int]bool{}
	for _, id := range []string{"", "1", "1234", "1234.0", "1234.1", "3735552001"} {
		p := DerivePort(id)
		if p < 10000 || p >= 32000 {
			t.Errorf("DerivePort(%q) = %d, outside [10000, 32000)", id, p)
		}
		if DerivePort(id) != p {
			t.Errorf("DerivePort(%q) not deterministic", id)
		}
		seen[p] = true
	}
	if len(seen) < 5 {
		t.Errorf("DerivePort: only %d distinct ports for 6 job ids", len(seen))
	}
}

func TestThreadsPerRank(t *testing.T) {
	cases := []struct{ cpus, ranks, want int }{
		{32, 4, 8}, {32, 5, 6}, {4, 8, 1}, {0, 4, 1}, {-1, 4, 1}, {16, 0, 1}, {16, 1, 16}, {1, 1, 1},
	}
	for _, c := range cases {
		if got := ThreadsPerRank(c.cpus, c.ranks); got != c.want {
			t.Errorf("ThreadsPerRank(%d, %d) = %d, want %d", c.cpus, c.ranks, got, c.want)
		}
		if c.cpus > 0 && c.ranks > 0 && c.ranks <= c.cpus && ThreadsPerRank(c.cpus, c.ranks)*c.ranks > c.cpus {
			t.Errorf("ThreadsPerRank(%d, %d): ranks x threads exceeds cpus", c.cpus, c.ranks)
		}
	}
}
