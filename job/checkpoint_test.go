package job

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testCheckpoint() *checkpoint {
	acc := 0.5
	return &checkpoint{
		ckptHeader: ckptHeader{Epoch: 3, Step: 96, Rank: 1, Workers: 4, Fingerprint: "f00d"},
		params:     []float32{1, -2, 3.5, 0},
		momentum:   []float32{0.25, -0.5, 0, 1},
		state:      [][]float32{{1, 2}, {3}},
		records:    []Record{{Epoch: 1, TestAcc: &acc}, {Epoch: 2}},
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	want := testCheckpoint()
	raw, err := encodeCheckpoint(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeCheckpoint(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got.Epoch != 3 || got.Step != 96 || got.Rank != 1 || got.Workers != 4 || got.Fingerprint != "f00d" {
		t.Fatalf("header %+v", got.ckptHeader)
	}
	for i, v := range want.params {
		if got.params[i] != v || got.momentum[i] != want.momentum[i] {
			t.Fatalf("value %d: %v %v", i, got.params, got.momentum)
		}
	}
	if len(got.state) != 2 || got.state[0][1] != 2 || got.state[1][0] != 3 {
		t.Fatalf("state %v", got.state)
	}
	if len(got.records) != 2 || *got.records[0].TestAcc != 0.5 || got.records[1].Epoch != 2 {
		t.Fatalf("records %+v", got.records)
	}
	// Any flipped bit is caught.
	for i := range raw {
		bad := append([]byte(nil), raw...)
		bad[i] ^= 1
		if _, err := decodeCheckpoint(bad); err == nil {
			t.Fatalf("a flipped bit at offset %d went unnoticed", i)
		}
	}
	if _, err := decodeCheckpoint(raw[:len(raw)-1]); err == nil {
		t.Fatal("a truncated checkpoint went unnoticed")
	}
}

// TestLoadCheckpointChecks: a checkpoint of another configuration, rank or
// model size, or whose epoch and step are not its folder's, is refused with
// a reason.
func TestLoadCheckpointChecks(t *testing.T) {
	cfg, err := ParseRun([]string{"--workers", "4", "--out", t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ck := testCheckpoint()
	ck.Fingerprint = fingerprint(cfg)
	if err := writeCheckpoint(cfg.Out, ck); err != nil {
		t.Fatal(err)
	}
	path := ckptPath(cfg.Out, 3, 1)
	state := [][]float32{make([]float32, 2), make([]float32, 1)}
	if _, err := loadCheckpoint(path, cfg, 1, 3, 32, 4, 4, state); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name                           string
		rank, epoch, steps, params, mo int
		mutate                         func(c *Config)
		want                           string
	}{
		{"rank", 2, 3, 32, 4, 4, nil, "belongs to rank 1 of 4"},
		{"size", 1, 3, 32, 5, 4, nil, "holds 4 parameters"},
		{"config", 1, 3, 32, 4, 4, func(c *Config) { c.LR *= 2 }, "another configuration"},
		{"folder", 1, 4, 32, 4, 4, nil, "records epoch 3 but lies in the folder of epoch 4 (corrupted)"},
		{"step", 1, 3, 31, 4, 4, nil, "records step 96, but epoch 3 ends at step 93 (corrupted)"},
	} {
		c := *cfg
		if tc.mutate != nil {
			tc.mutate(&c)
		}
		if _, err := loadCheckpoint(path, &c, tc.rank, tc.epoch, tc.steps, tc.params, tc.mo, state); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	// Extending the run (more epochs) keeps its checkpoints usable.
	c := *cfg
	c.Epochs += 10
	if _, err := loadCheckpoint(path, &c, 1, 3, 32, 4, 4, state); err != nil {
		t.Errorf("more epochs: %v", err)
	}
}

// TestCheckpointKeeper: a run keeps the newest keepCheckpoints of its own
// checkpoints and removes nothing it did not write, whatever the epochs of
// another run's checkpoints in the same folder.
func TestCheckpointKeeper(t *testing.T) {
	out := t.TempDir()
	ck := testCheckpoint()
	for _, e := range []int{10, 11, 12} {
		ck.Epoch, ck.Run = e, "another run"
		if err := writeCheckpoint(out, ck); err != nil {
			t.Fatal(err)
		}
	}
	k := ckptKeeper{out: out, rank: ck.Rank}
	for e := 1; e <= 5; e++ {
		ck.Epoch, ck.Run = e, "this run"
		if err := k.write(ck); err != nil {
			t.Fatal(err)
		}
	}
	epochs, _ := checkpointEpochs(out)
	if fmt.Sprint(epochs) != "[3 4 5 10 11 12]" {
		t.Fatalf("epochs kept %v, want this run's 3 4 5 and the other's 10 11 12", epochs)
	}
}

// TestCheckpointWriteFolderVanishes: a checkpoint's folder removed by
// another rank between its making and the file (the instant it is empty)
// is made again and the checkpoint written, not lost.
func TestCheckpointWriteFolderVanishes(t *testing.T) {
	out := t.TempDir()
	ck := testCheckpoint()
	removals := 0
	ckptDirMade = func(dir string) {
		if removals < 2 {
			removals++
			if err := os.Remove(dir); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer func() { ckptDirMade = nil }()
	if err := writeCheckpoint(out, ck); err != nil {
		t.Fatalf("a checkpoint whose folder vanished twice: %v", err)
	}
	if _, err := os.Stat(ckptPath(out, ck.Epoch, ck.Rank)); err != nil || removals != 2 {
		t.Fatalf("after %d removals: %v", removals, err)
	}
}

func FuzzDecodeCheckpoint(f *testing.F) {
	raw, _ := encodeCheckpoint(testCheckpoint())
	f.Add(raw)
	f.Add([]byte(ckptMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		ck, err := decodeCheckpoint(b)
		if err != nil {
			return
		}
		if len(ck.params) != ck.Params || len(ck.momentum) != ck.Momentum || len(ck.state) != len(ck.State) {
			t.Fatalf("accepted a checkpoint whose sections disagree with its header: %+v", ck.ckptHeader)
		}
	})
}

// FuzzParseRun: any command line gives a configuration or a usage error,
// never a panic.
func FuzzParseRun(f *testing.F) {
	for _, s := range []string{"--workers\x009\x00--byzantine\x004", "--vote-deadline\x001s\x00--opt\x00sgd", "--lr\x00-1", "--checkpoint-every\x00-2", "--timeout\x00x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		cfg, err := ParseRun(args)
		if err != nil {
			if !errors.Is(err, errUsage) && !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("%q: error %v is not a usage error", args, err)
			}
			return
		}
		if cfg.Workers < 1 || cfg.Blind+cfg.Byzantine >= cfg.Workers || !(cfg.LR > 0) || cfg.timeout <= 0 {
			t.Fatalf("%q: accepted %+v", args, cfg)
		}
	})
}

func TestJobSecret(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{KeyFileEnv: filepath.Join(dir, "sub", "key")}
	getenv := func(k string) string { return env[k] }
	cfg := &Config{JobID: "1234"}
	a, err := jobSecret(cfg, getenv)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(env[KeyFileEnv])
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, st.Mode())
	}
	b, _ := jobSecret(cfg, getenv)
	cfg2 := &Config{JobID: "1235"}
	c, _ := jobSecret(cfg2, getenv)
	if string(a) != string(b) || string(a) == string(c) {
		t.Fatal("the derived secret is not a function of the key and the job id")
	}
	env[SecretEnv] = "from-the-environment-0123"
	if s, _ := jobSecret(cfg, getenv); string(s) != env[SecretEnv] {
		t.Fatalf("$%s not used: %q", SecretEnv, s)
	}
	env[SecretEnv] = "short"
	if _, err := jobSecret(cfg, getenv); err == nil {
		t.Fatal("a short secret was accepted")
	}
	delete(env, SecretEnv)
	f := filepath.Join(dir, "secret")
	os.WriteFile(f, []byte("a-secret-from-a-file-xyz\n"), 0o644)
	cfg.SecretFile = f
	if _, err := jobSecret(cfg, getenv); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable secret file: %v", err)
	}
	os.Chmod(f, 0o600)
	if s, err := jobSecret(cfg, getenv); err != nil || string(s) != "a-secret-from-a-file-xyz" {
		t.Fatalf("secret file: %q, %v", s, err)
	}
}
