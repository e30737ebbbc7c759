package spawn

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for a rank: with SPAWN_TEST_RANK
// set it reports its thread settings and whether fd 3 is a listening
// socket, then exits with that rank's status.
func TestMain(m *testing.M) {
	if r := os.Getenv("SPAWN_TEST_RANK"); r != "" {
		listens := "no"
		if f := os.NewFile(3, "listener"); f != nil {
			if l, err := net.FileListener(f); err == nil {
				listens = "yes"
				l.Close()
			}
		}
		os.Stdout.WriteString(os.Getenv("GOMAXPROCS") + " " + os.Getenv("OPENBLAS_NUM_THREADS") + " " + listens + " " + strings.Join(os.Args[1:], ",") + "\n")
		if r == "1" {
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Real processes: rank 0 inherits the loopback listener as fd 3 and is told
// so (--listen-fd 3), both get the thread count, and every exit arrives on
// the channel with its rank and status.
func TestStartAndWait(t *testing.T) {
	lf, addr, err := Loopback()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("loopback address %q", addr)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var outs [2]*bufio.Reader
	cmds := []*exec.Cmd{
		Command(self, []string{"a"}, 3, lf, "SPAWN_TEST_RANK=0"),
		Command(self, []string{"b"}, 3, nil, "SPAWN_TEST_RANK=1"),
	}
	for i, c := range cmds {
		p, err := c.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		outs[i] = bufio.NewReader(p)
	}
	if err := Start(cmds); err != nil {
		t.Fatal(err)
	}
	lf.Close()
	lines := [2]string{}
	for i, r := range outs {
		lines[i], _ = r.ReadString('\n')
	}
	status := map[int]int{}
	exits := Wait(cmds)
	for range cmds {
		select {
		case e := <-exits:
			code := 0
			if ee, ok := e.Err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if e.Err != nil {
				t.Fatalf("rank %d: %v", e.Rank, e.Err)
			}
			status[e.Rank] = code
		case <-time.After(20 * time.Second):
			t.Fatal("a rank did not exit")
		}
	}
	if want := "3 3 yes a,--listen-fd,3\n"; lines[0] != want {
		t.Errorf("rank 0 saw %q, want %q", lines[0], want)
	}
	if want := "3 3 no b\n"; lines[1] != want {
		t.Errorf("rank 1 saw %q, want %q", lines[1], want)
	}
	if status[0] != 0 || status[1] != 3 {
		t.Errorf("exit statuses %v, want rank 0: 0, rank 1: 3", status)
	}
	if a, b := JobID(), JobID(); a == "" || a == b {
		t.Errorf("job IDs %q and %q: want distinct and non-empty", a, b)
	}
}

// A rank that cannot start stops the ones already started and names itself.
func TestStartFailsWhole(t *testing.T) {
	self, _ := os.Executable()
	cmds := []*exec.Cmd{
		Command(self, nil, 1, nil, "SPAWN_TEST_RANK=0"),
		Command("/nonexistent/signsgd", nil, 1, nil),
	}
	err := Start(cmds)
	if err == nil || !strings.Contains(err.Error(), "rank 1") {
		t.Fatalf("Start = %v, want an error naming rank 1", err)
	}
	if cmds[0].ProcessState == nil {
		t.Error("rank 0 was started and not waited for")
	}
}
