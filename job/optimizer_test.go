package job

import (
	"strings"
	"testing"
)

// SGD's default is the paper's step as a rate on the mean: the paper's
// code applies 1e-3 to the sum of its 9 workers' gradients. The default
// is the same whatever --workers and --dataset say, and the usage names
// it from the registry.
func TestSGDDefaultIsThePaperStep(t *testing.T) {
	const paperLR, paperWorkers = 1e-3, 9
	for _, args := range [][]string{{"--opt", "sgd"}, {"--opt", "sgd", "--workers", "4"}, {"--opt", "sgd", "--dataset", "mnist", "--workers", "17"}} {
		cfg, err := ParseRun(args)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.LR != paperLR*paperWorkers {
			t.Errorf("%v: --lr defaults to %g, want %g", args, cfg.LR, paperLR*paperWorkers)
		}
	}
	if cfg, _ := ParseRun([]string{"--opt", "sgd", "--lr", "0.5"}); cfg.LR != 0.5 {
		t.Errorf("--lr 0.5 gives %g", cfg.LR)
	}
	for _, o := range optimizers.Names() {
		if want := o + " " + FormatLR(DefaultLR(o)); !strings.Contains(lrDefaults(), want) {
			t.Errorf("--lr's usage %q lacks %q", lrDefaults(), want)
		}
	}
}

func TestFormatLR(t *testing.T) {
	for x, want := range map[float64]string{9e-3: "9e-3", 1e-4: "1e-4", 1.5e-4: "1.5e-4", 0.1: "0.1", 3e-2: "0.03", 1: "1", 0: "0"} {
		if got := FormatLR(x); got != want {
			t.Errorf("FormatLR(%g) = %q, want %q", x, got, want)
		}
	}
}
