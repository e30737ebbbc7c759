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

.PHONY: all build run test vet fmt-check deps sysdeps sysdeps-build sysdeps-torch bench bench-step bench-comm figures fuzz clean

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

vet: deps
	$(GO) vet ./...
	$(GO) vet -tags noasm ./kernels ./collective
	$(GO) vet -tags purego ./kernels

test: sysdeps deps fmt-check vet build
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
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeSignsWire$$' -fuzztime $(FUZZTIME) ./collective
	$(GO) test -run '^$$' -fuzz '^FuzzInbox$$' -fuzztime $(FUZZTIME) ./collective
	$(GO) test -run '^$$' -fuzz '^FuzzReadIDX$$' -fuzztime $(FUZZTIME) ./data
	$(GO) test -run '^$$' -fuzz '^FuzzExpandHostlist$$' -fuzztime $(FUZZTIME) ./slurm
	$(GO) test -run '^$$' -fuzz '^FuzzParseRun$$' -fuzztime $(FUZZTIME) ./job
	$(GO) test -run '^$$' -fuzz '^FuzzPlanAttack$$' -fuzztime $(FUZZTIME) ./job
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCheckpoint$$' -fuzztime $(FUZZTIME) ./job

# Kernel speed: the vote against the float32 sum SGD's server does, at the
# sizes of ResNet-50's gradient (d = 25.6M, 16 voters).
bench: deps
	$(GO) test -run '^$$' -bench 'Vote/voters=16/d=25600000|Vote/voters=64/d=25600000$$|SumFloat32/voters=16/d=25600000$$|PackSigns|MomentumSigns|ApplySignStep' -benchtime 10x -count 3 ./kernels

# The paper's experiments from scratch: every run of Figures 2-5 (and the
# oppose attack) into bench/results/figures (runs/ is kept out of git), and
# the Monte Carlo check of the bounds into bench/results/theory. An
# interrupted `make figures` resumes: finished runs are reused.
FIGURES_OUT ?= bench/results/figures
figures: build
	./$(BIN) figures --out $(FIGURES_OUT)
	./$(BIN) theory --out bench/results/theory

# Forward+backward speed of the networks against PyTorch (Debian
# python3-torch and python3-torchvision) on the same shapes, in one run.
sysdeps-torch:
	$(call install_packages,python3-torch python3-torchvision)

bench-step: build sysdeps-torch
	$(GO) test -run '^$$' -bench 'Step/model=' -benchtime 5x ./job/nn
	/usr/bin/python3 bench/torch_step.py

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
	./$(BIN) bench comm --opt sgd,signsgd,signum --topology server,ring,shard --workers 2,4,8 --dims 11689512 --out bench/results/comm-targets
	./$(BIN) bench scale --out bench/results/scale
	./$(BIN) bench step --out bench/results/step

clean:
	rm -rf bin results
