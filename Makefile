# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HULLSCAN_DATA_DIR ?= ./var
export HULLSCAN_DATA_DIR

.PHONY: run test fuzz testdata venv system-deps test-deps bench lock clean image image-smoke

$(BIN)/hullscan: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@

venv: $(BIN)/hullscan

run: venv
	mkdir -p $(HULLSCAN_DATA_DIR)
	$(BIN)/hullscan db upgrade
	$(BIN)/hullscan serve --host 127.0.0.1 --port 8080

system-deps:
	bash scripts/system-deps.sh

# The five test images: built by scripts/testimages from the recipe once per machine, cached outside the
# clone (~/.cache/hullscan-testdata, keyed by the recipe's hash; copied from ../shared when that holds the
# same recipe's build). axe-core (npm) for the accessibility tests goes to the same cache.
testdata: venv
	$(BIN)/python scripts/testimages/ensure.py
	$(BIN)/python scripts/ensure_axe.py

test: venv system-deps testdata
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# The parser properties (the scanner's and the other untrusted documents') with a long budget: HULLSCAN_FUZZ_EXAMPLES
# examples per property (default 20,000); failures are kept in ~/.cache/hullscan-fuzz and replayed first.
fuzz: venv
	HULLSCAN_FUZZ=1 $(BIN)/python -m pytest -p no:cacheprovider -q tests/scanner/test_properties.py tests/test_untrusted_parsers.py $(PYTEST_ARGS)

# The container image (podman; a Debian-built base when Docker Hub is out of reach) and its proof: the embedded
# default and compose.yaml's topology run from the image (docs/operations.md, "Container image"). Not in `make
# test`: the build alone takes minutes.
image:
	sh deploy/build-image.sh

image-smoke: venv system-deps image
	$(BIN)/python scripts/image_smoke.py

bench: venv system-deps
	$(BIN)/python bench/run_all.py

# Re-pin: the versions a fresh install gets are the versions the suite ran with.
lock: venv
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) var .pytest_cache
