# signsgd: `make run` trains on local ranks over loopback; `make test` runs
# every test. Go is expected at /usr/local/go or on PATH; modules come from
# the Go module proxy.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin/signsgd
FUZZTIME ?= 3s

# The main job on the embedded default: 9 ranks on loopback, logistic
# regression with SIGNUM, 2 blind and 2 Byzantine ranks.
RUN_FLAGS ?= --dataset logreg --model mlp --opt signum --workers 9 --blind 2 --byzantine 2 --attack paper --epochs 30 --seed 8005 --out results/make-run

.PHONY: all build run test vet fmt-check deps bench fuzz clean

all: build

deps:
	$(GO) mod download

build: deps
	$(GO) build -o $(BIN) ./cmd/signsgd

run: build
	./$(BIN) run $(RUN_FLAGS)

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet: deps
	$(GO) vet ./...
	$(GO) vet -tags noasm ./kernels

test: deps fmt-check vet build
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -tags noasm ./kernels
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

# Every fuzz target for FUZZTIME each (longer: make fuzz FUZZTIME=60s).
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzVote$$' -fuzztime $(FUZZTIME) ./kernels
	$(GO) test -run '^$$' -fuzz '^FuzzPackSigns$$' -fuzztime $(FUZZTIME) ./kernels
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeSigns$$' -fuzztime $(FUZZTIME) ./kernels
	$(GO) test -run '^$$' -fuzz '^FuzzFrameHeader$$' -fuzztime $(FUZZTIME) ./collective
	$(GO) test -run '^$$' -fuzz '^FuzzHello$$' -fuzztime $(FUZZTIME) ./collective

# Kernel speed: the vote against the float32 sum SGD's server does, at the
# sizes of ResNet-50's gradient (d = 25.6M, 16 voters).
bench: deps
	$(GO) test -run '^$$' -bench 'Vote/voters=16/d=25600000|SumFloat32/voters=16/d=25600000$$|PackSigns|ApplySignStep' -benchtime 10x -count 3 ./kernels

clean:
	rm -rf bin results
