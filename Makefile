# The two commands: `make run` runs the product, `make test` passes the tests.
# Each bootstraps what it needs, idempotently: Debian packages (when root and missing), the
# virtualenv (only when setup.cfg changed) and the models (only those missing or damaged).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := libportaudio2 mosquitto mosquitto-clients xvfb chromium openssl systemd strace

.PHONY: run test bench bootstrap system-deps models lint

run: bootstrap
	$(BIN)/edge-talker run

test: bootstrap
	$(BIN)/ruff check runtime tests
	$(BIN)/pytest

bench: bootstrap
	$(BIN)/edge-talker bench --out bench-out
	$(BIN)/edge-talker bench hear --out bench-out
	$(BIN)/edge-talker bench think --out bench-out
	$(BIN)/edge-talker bench speak --out bench-out
	$(BIN)/edge-talker bench face --out bench-out

bootstrap: system-deps $(VENV)/.installed models

system-deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "warning: missing system packages:$$missing (install them as root)"; \
	  fi; \
	fi

# llama.cpp is compiled here (PyPI has only its source). On x86-64 its CPU features are named one
# by one from /proc/cpuinfo instead of -march=native, which also turns on AMX: some virtual
# machines list AMX but fault on its first tile instruction (SIGILL at the first prompt). pip's
# wheel cache ignores CMAKE_ARGS, hence --no-cache-dir (a wheel built elsewhere would be reused).
LLAMA_FEATURES := avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2 avx_vnni:AVX_VNNI avx512f:AVX512 \
  avx512vbmi:AVX512_VBMI avx512_vnni:AVX512_VNNI avx512_bf16:AVX512_BF16
LLAMA_CMAKE_ARGS := $(if $(filter x86_64,$(shell uname -m)),-DGGML_NATIVE=OFF $(foreach f,$(LLAMA_FEATURES),\
  $(if $(shell grep -m1 -w '$(word 1,$(subst :, ,$(f)))' /proc/cpuinfo),-DGGML_$(word 2,$(subst :, ,$(f)))=ON)))

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet --no-cache-dir \
	  "$$(grep -m1 -o 'llama-cpp-python[^ ]*' setup.cfg)"
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

models: $(VENV)/.installed
	$(BIN)/edge-talker models fetch

lint: $(VENV)/.installed
	$(BIN)/ruff check runtime tests
	$(BIN)/ruff format --check runtime tests
