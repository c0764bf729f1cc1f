# bgwasm's build entry points. `make serve` runs the daemon; `make test` passes
# the tests. Both first install what is missing (idempotently): Debian's
# clang-19 toolchain for WASI and the wasm32-wasip2 Rust target; `make test`
# also Debian's postgresql (the tests start throwaway clusters with it).

SHELL := /bin/bash
CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
DEBIAN_PACKAGES := clang-19 llvm-19 wasi-libc libclang-rt-19-dev-wasm32
TEST_DEBIAN_PACKAGES := chromium postgresql

export RQUICKJS_SYS_NO_WASI_SDK := 1
export CC_wasm32_wasip2 := clang-19
export AR_wasm32_wasip2 := llvm-ar-19
WASI_CLANG_ARGS := --target=wasm32-wasi --sysroot=/usr -isystem /usr/include/wasm32-wasi
# QuickJS with bulk memory (memcpy/memset as memory.copy/memory.fill, not
# wasi-libc's byte loops): 2.4 % fewer instructions over benches/js/*.js, up
# to 8 % (regex); README "Issue 10's sandbox targets". As in build.rs.
export CFLAGS_wasm32_wasip2 := $(WASI_CLANG_ARGS) -mbulk-memory -mnontrapping-fptoint -msign-ext
export BINDGEN_EXTRA_CLANG_ARGS_wasm32_wasip2 := $(WASI_CLANG_ARGS)

.PHONY: setup setup-test build test serve bench bench-against bench-compare lint fmt clean

# Installs whichever of the Debian packages $(1) are missing.
define apt_install
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
endef

setup:
	$(call apt_install,$(DEBIAN_PACKAGES))
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

# What the tests need besides: Chromium and playwright-core for the
# dashboard's browser test (tests/dashboard.rs), and PostgreSQL's server for
# the store tests on PostgreSQL (each starts a throwaway cluster).
setup-test: setup
	$(call apt_install,$(TEST_DEBIAN_PACKAGES))
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }
	@scripts/install-playwright.sh

build: setup
	$(CARGO) build --release --locked

test: setup-test
	$(CARGO) test --release --locked
	scripts/conformance-on-deno.sh

serve: build
	$(CARGO) run --release --locked -- serve

bench: setup
	$(CARGO) bench --locked --bench sandbox

# The sandbox benchmark of BASE and of this tree, interleaved, as ratios.
BASE ?= 270fc67
bench-against: setup
	scripts/bench-against.sh $(BASE)

# bgwasm against native QuickJS, Deno Workers, and the daemon's throughput: one table.
bench-compare: setup
	scripts/bench-compare.sh

lint: setup
	$(CARGO) fmt --all -- --check
	cd guest && $(CARGO) fmt -- --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings
	cd guest && $(CARGO) clippy --release --locked --target wasm32-wasip2 --target-dir ../target/guest -- -D warnings

fmt:
	$(CARGO) fmt --all
	cd guest && $(CARGO) fmt

clean:
	$(CARGO) clean
