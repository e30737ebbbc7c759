# signsgd: `make run` trains on local ranks over loopback; `make test` runs
# every test. Go is expected at /usr/local/go or on PATH; modules come from
# the Go module proxy.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin/signsgd
# Fuzzing: FUZZTIME per target in `make fuzz`; TEST_FUZZTIME, a count of
# executions, in `make test` (a time there can end in a spurious "context
# deadline exceeded" from go test on a loaded machine).
FUZZTIME ?= 60s
TEST_FUZZTIME ?= 20000x

# The main job on the embedded default: 9 ranks on loopback, logistic
# regression with SIGNUM, 2 blind and 2 Byzantine ranks.
RUN_FLAGS ?= --dataset logreg --model mlp --opt signum --workers 9 --blind 2 --byzantine 2 --attack paper --epochs 30 --seed 8005 --out results/make-run

.PHONY: all build run test vet fmt-check check-tree deps sysdeps sysdeps-build sysdeps-torch bench bench-step calibrate bench-comm figures robustness robustness-quick accuracy-scale accuracy-scale-quick fuzz chaos clean

all: build

# Debian packages: OpenBLAS to build; Slurm, munge, OpenMPI and iproute2
# for the launcher tests. Installed with apt-get when missing and root
# (without letting the packages start daemons); otherwise named.
BUILD_PACKAGES := libopenblas-dev
TEST_PACKAGES := $(BUILD_PACKAGES) slurmctld slurmd slurm-client munge openmpi-bin iproute2

define install_packages
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "signsgd needs these Debian packages:$$missing (run: sudo apt-get install$$missing)"; exit 1; \
	fi; \
	echo "installing Debian packages:$$missing"; \
	guard=0; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; guard=1; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get -o DPkg::Lock::Timeout=600 -y -q --no-install-recommends install $$missing \
	  || { apt-get -o DPkg::Lock::Timeout=600 -q update && apt-get -o DPkg::Lock::Timeout=600 -y -q --no-install-recommends install $$missing; }; \
	rc=$$?; [ $$guard = 1 ] && rm -f /usr/sbin/policy-rc.d; exit $$rc
endef

sysdeps-build:
	$(call install_packages,$(BUILD_PACKAGES))

sysdeps:
	$(call install_packages,$(TEST_PACKAGES))

deps:
	$(GO) mod download

build: sysdeps-build deps
	$(GO) build -o $(BIN) ./cmd/signsgd

run: build
	./$(BIN) run $(RUN_FLAGS)

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

# What git holds: no compiled binary (ELF, Mach-O) anywhere, and no file
# over 1 MB outside bench/results/. One line per offending file; skipped
# outside a git checkout (a release tarball).
MAX_TRACKED_BYTES := 1000000
check-tree:
	@if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then echo "check-tree: not a git checkout, skipped"; exit 0; fi; \
	bad=$$(git ls-files | while IFS= read -r f; do \
	  [ -f "$$f" ] || continue; \
	  case $$(head -c 4 "$$f" | od -An -tx1 | tr -d ' \n') in \
	    7f454c46) echo "check-tree: $$f is a committed ELF binary (git rm --cached $$f)";; \
	    feedface|feedfacf|cefaedfe|cffaedfe|cafebabe) echo "check-tree: $$f is a committed Mach-O binary (git rm --cached $$f)";; \
	  esac; \
	  case $$f in bench/results/*) continue;; esac; \
	  n=$$(wc -c < "$$f"); \
	  if [ "$$n" -gt $(MAX_TRACKED_BYTES) ]; then echo "check-tree: $$f is $$n bytes, over 1 MB (only bench/results/ may hold large files)"; fi; \
	done); \
	if [ -n "$$bad" ]; then echo "$$bad"; exit 1; fi

vet: deps
	$(GO) vet ./...
	$(GO) vet -tags noasm ./kernels ./collective
	$(GO) vet -tags purego ./kernels

test: check-tree sysdeps deps fmt-check vet build
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -tags noasm ./kernels ./collective
	$(GO) test -count=1 -tags purego ./kernels ./job/nn
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(TEST_FUZZTIME)

# Every fuzz target, FUZZTIME each: everything that reads bytes from a peer,
# a file or a command line.
fuzz: deps
	$(GO) test -run '^$$' -fuzz '^FuzzVote$$' -fuzztime $(FUZZTIME) ./kernels
	$(GO) test -run '^$$' -fuzz '^FuzzPackSigns$$' -fuzztime $(FUZZTIME) ./kernels
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeSigns$$' -fuzztime $(FUZZTIME) ./kernels
	$(GO) test -run '^$$' -fuzz '^FuzzFrameHeader$$' -fuzztime $(FUZZTIME) ./collective
	$(GO) test -run '^$$' -fuzz '^FuzzHello$$' -fuzztime $(FUZZTIME) ./collective
	$(GO) test -run '^$$' -fuzz '^FuzzHandshake$$' -fuzztime $(FUZZTIME) ./collective
	$(GO) test -run '^$$' -fuzz '^FuzzOpenSealedFrame$$' -fuzztime $(FUZZTIME) ./collective
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeSignsWire$$' -fuzztime $(FUZZTIME) ./collective
	$(GO) test -run '^$$' -fuzz '^FuzzInbox$$' -fuzztime $(FUZZTIME) ./collective
	$(GO) test -run '^$$' -fuzz '^FuzzReadIDX$$' -fuzztime $(FUZZTIME) ./data
	$(GO) test -run '^$$' -fuzz '^FuzzExpandHostlist$$' -fuzztime $(FUZZTIME) ./slurm
	$(GO) test -run '^$$' -fuzz '^FuzzParseRun$$' -fuzztime $(FUZZTIME) ./job
	$(GO) test -run '^$$' -fuzz '^FuzzPlanAttack$$' -fuzztime $(FUZZTIME) ./job
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCheckpoint$$' -fuzztime $(FUZZTIME) ./job
	$(GO) test -run '^$$' -fuzz '^FuzzAggregate$$' -fuzztime $(FUZZTIME) ./job

# Calibrate the kernel chooser on this CPU: time each implementation on the
# networks' shapes and write kernels/calibration/VENDOR-FAMILY-MODEL.json
# (commit it; the next build embeds it).
calibrate: build
	./$(BIN) bench kernels --calibrate --out kernels/calibration

# Kernel speed: the vote against the float32 sum SGD's server does, at the
# sizes of ResNet-50's gradient (d = 25.6M, 16 voters).
# Both bench targets first print the CPU and the kernel the chooser takes for
# each shape (kernels/choose.go), and record them in bench/results/.
bench: build
	./$(BIN) bench kernels --models resnet50 --record bench/results/kernels
	$(GO) test -run '^$$' -bench 'Vote/voters=16/d=25600000|Vote/voters=64/d=25600000$$|SumFloat32/voters=16/d=25600000$$|PackSigns|MomentumSigns|ApplySignStep' -benchtime 10x -count 3 ./kernels

# The paper's experiments from scratch: every run of Figures 2-5 (and the
# oppose attack) into bench/results/figures (runs/ is kept out of git), and
# the Monte Carlo check of the bounds into bench/results/theory. An
# interrupted `make figures` resumes: finished runs are reused.
FIGURES_OUT ?= bench/results/figures
figures: build
	./$(BIN) figures --out $(FIGURES_OUT)
	./$(BIN) theory --out bench/results/theory

# Every method against every attack at 0, (M-1)/4 and (M-1)/2 Byzantine
# ranks of M: bench/results/robustness/DATASET-MODEL/robustness.md, .csv and
# heatmaps/. Each run's ranks are goroutines of one process (--launcher sim,
# the default: the same model as real processes, faster). logreg: 9 and 17
# workers, iid, dirichlet:1 and dirichlet:0.1, 5 epochs (sgd at 3e-2, the
# votes at 1e-3), every method (election coding by the repetition and the
# deterministic code among them) and attack (1692 runs); mnist mlp: the
# same at 9 and 17 workers, one epoch of 6000 rows (1692 runs); mnist cnn:
# 9 workers, 0 and 4 Byzantine, iid and dirichlet:0.1, 5 methods, 4
# attacks, one epoch of 3000 rows (50 runs). About 75 minutes here (logreg
# 16 and mnist mlp 50 on two cores shared with other work, cnn 7 on a
# quiet machine); each report has its time.
# Runs are cached in bench/results/robustness/runs/ (kept out of git), so an
# interrupted grid resumes. robustness-quick: 149 runs, under a minute.
ROBUSTNESS_OUT = bench/results/robustness
robustness: build
	./$(BIN) robustness --out $(ROBUSTNESS_OUT) --dataset logreg --epochs 5 --lr-sgd 3e-2 --lr-vote 1e-3 --workers 9,17
	./$(BIN) robustness --out $(ROBUSTNESS_OUT) --dataset mnist --model cnn --epochs 1 --extra "--train-limit 3000 --eval-limit 1000" \
		--lr-sgd 0.1 --lr-vote 1e-3 --workers 9 --partitions iid,dirichlet:0.1 --counts 0,4 \
		--methods "sgd median,sgd cclip,ef-signsgd median,signum vote,signum rep-coded" --attacks paper,alie,ipm,labelflip
	./$(BIN) robustness --out $(ROBUSTNESS_OUT) --dataset mnist --model mlp --epochs 1 --extra "--train-limit 6000 --eval-limit 2000" \
		--lr-sgd 0.1 --lr-vote 1e-3 --workers 9,17

robustness-quick: build
	./$(BIN) robustness --quick --out /tmp/signsgd-robustness-quick

# Final accuracy against the number of workers (9, 33, 129, 513, 2049) at
# Byzantine fractions 0, 20%, 40% and 45% under the paper's attack: SIGNUM's
# vote against SGD with the median, logreg (5 epochs, 256,125 rows so every
# worker keeps 100 at M = 2049) and MNIST mlp (one epoch), per-worker batch
# 14, every rank a goroutine (--launcher sim); the rates of make robustness.
# bench/results/scale/accuracy-vs-workers.md, .csv and .png; runs cached in
# bench/results/scale/accuracy-runs/ (kept out of git). The time is in the
# report. accuracy-scale-quick: 16 short runs at 5 and 9 workers.
accuracy-scale: build
	./$(BIN) accuracy-scale --out bench/results/scale

accuracy-scale-quick: build
	./$(BIN) accuracy-scale --quick --out /tmp/signsgd-accuracy-scale-quick

# Forward+backward speed of the networks against PyTorch (Debian
# python3-torch and python3-torchvision) on the same shapes: three
# alternating pairs in one window (pairs.sh: the CPU, the kernels chosen,
# then each pair), their log in results/bench-step, and each model's ratios
# with their median (ratios.py: median step against median step).
sysdeps-torch:
	$(call install_packages,python3-torch python3-torchvision)

bench-step: build sysdeps-torch
	mkdir -p results/bench-step
	sh bench/results/torch-step/pairs.sh 3 | tee results/bench-step/pairs.log
	/usr/bin/python3 bench/results/torch-step/ratios.py results/bench-step/pairs.log

# Communication at its limit, with real ranks (processes over TCP): bytes and
# seconds of one exchange per optimizer, topology, M and d beside gloo's fp32
# allreduce (bench comm), time per step against M on loopback and, as root, in
# bandwidth-limited network namespaces with a fitted model projected to 1024
# workers (bench scale), and a whole ResNet-18 step split into its phases
# (bench step), and the fp32 and vote targets (the ring against gloo, each
# exchange against its wire floor) at M = 2, 4, 8. Each writes its command
# line into its .md. About 30 minutes.
bench-comm: build sysdeps-torch
	./$(BIN) bench comm --out bench/results/comm
	./$(BIN) bench comm --opt sgd,signsgd,signum --topology server,ring,shard --workers 2,4,8 --dims 11689512 --repeat 5 --out bench/results/comm-targets
	./$(BIN) bench scale --out bench/results/scale
	./$(BIN) bench scale --sim --out bench/results/scale
	./$(BIN) bench step --out bench/results/step

# Chaos: CHAOS_ROUNDS randomized kill, stall, signal and resume rounds
# against a logistic regression job of 4 ranks on loopback, with and without
# a Byzantine rank; each round must lose nothing (the resumed model equals an
# uninterrupted run's, or --vote-deadline goes on without the rank) and
# leave no process. Bounded: 60 s a round at most, about 2 minutes in all.
CHAOS_ROUNDS ?= 20
chaos: build
	./$(BIN) chaos --rounds $(CHAOS_ROUNDS) --out results/chaos

clean:
	rm -rf bin results
