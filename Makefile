# Targets are thin: each calls scripts/<target>, which does the work.
.PHONY: all build test test-faults soak demo bench bench-scale bench-collector fuzz lint image testbin clean

all: build

build:
	scripts/build

test:
	scripts/test

test-faults:
	scripts/test-faults

soak:
	scripts/soak

demo:
	scripts/demo

bench:
	scripts/bench

bench-scale:
	scripts/bench-scale

bench-collector:
	scripts/bench-collector

fuzz:
	scripts/fuzz

lint:
	scripts/lint

image:
	scripts/image

testbin:
	scripts/build-testbin kube-apiserver etcd helm

clean:
	rm -rf bin dist
