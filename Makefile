# cvops build. `make help` lists the targets; README.md explains them.
#
# Every .c under src/ except src/main.c goes into $(BUILD)/libcvops.a; the
# binary, the unit tests, the API tests, the fuzzers and the benchmarks link
# against it. New files are picked up without editing this file.
#
#   make BUILD=build-asan SAN=1 ...   the same with ASan + UBSan

BUILD ?= build
SAN ?=
CC ?= cc
CLANG ?= clang
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

PKGS := libmicrohttpd jansson yajl sqlite3 libpq libcurl vips libturbojpeg libexif libarchive \
        libargon2 libsodium libcrypto libpng libwebp expat zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ldnnl -lopenblas -lgomp -lpthread -lm

WARN := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-missing-field-initializers -Wstrict-prototypes \
        -Wmissing-prototypes -Wformat=2 -Wvla -Wno-format-nonliteral \
        $(if $(findstring clang,$(CC)),-Wno-unknown-warning-option,-Wno-format-truncation)
OPT := -O2 -g
SANFLAGS := -fsanitize=address,undefined
ifeq ($(SAN),1)
  OPT := -O1 -g -fno-omit-frame-pointer $(SANFLAGS) -fno-sanitize-recover=undefined
  LDFLAGS += $(SANFLAGS)
endif
CPPFLAGS += -Isrc -Iinclude -I$(BUILD)/gen -D_GNU_SOURCE
# OpenMP for gcc (oneDNN itself uses libgomp); clang builds (fuzzers) go without.
OMP := $(if $(findstring clang,$(CC)),-Wno-unknown-pragmas -Wno-source-uses-openmp,-fopenmp)
CFLAGS += -std=c11 $(WARN) $(OPT) $(OMP) $(PKG_CFLAGS) -MMD -MP

SRC_LIB := $(filter-out src/main.c,$(shell find src -name '*.c' | sort))
OBJ_LIB := $(SRC_LIB:%.c=$(BUILD)/obj/%.o)
GEN_SRC := $(BUILD)/gen/webui_assets.c
OBJ_GEN := $(BUILD)/obj/gen/webui_assets.o
TEST_UNIT_SRC := $(wildcard tests/unit/*.c)
TEST_API_SRC := $(wildcard tests/api/*.c)

.PHONY: all run test test-all check-unit check-api check-api-sqlite check-api-pg check-asan \
        check-web bench fuzz fuzz-build deps clean help format

all: $(BUILD)/cvops

help:
	@echo "make run      install dependencies, build, start cvops serve with sample data"
	@echo "make test     install dependencies, build, run every test (also under ASan+UBSan)"
	@echo "make bench    run the benchmarks under bench/ and print their tables"
	@echo "make fuzz     build the fuzz targets (clang/libFuzzer) and run each briefly"
	@echo "make format   clang-format the C sources"

deps:
	@scripts/install-deps

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# The web UI (web/, see docs/web.md): Vite builds it into web/dist when one
# of its sources changed; web/dist/index.html stands for the whole build. The
# build needs web/node_modules (scripts/install-deps runs `npm ci` there) but
# no network. Without web/node_modules the binary is built with whatever
# web/dist holds (nothing on a fresh clone: / then says the UI is missing).
WEB_SRC := $(shell find web/src web/public -type f 2>/dev/null) \
           $(wildcard web/index.html web/package.json web/package-lock.json web/vite.config.ts web/tsconfig.json)
WEB_STAMP := web/dist/index.html
ifneq ($(wildcard web/node_modules/.bin/vite),)
  WEB_DEP := $(WEB_STAMP)
else
  WEB_DEP := $(wildcard $(WEB_STAMP))
  WEB_MISSING := 1
endif

$(WEB_STAMP): $(WEB_SRC)
	@echo "  WEB     web/dist"
	@cd web && node_modules/.bin/vite build --logLevel warn

# The web UI's built files, embedded into the binary (see scripts/embed-assets).
$(GEN_SRC): scripts/embed-assets $(WEB_DEP)
	@mkdir -p $(dir $@)
	@$(if $(WEB_MISSING),echo "warning: web/node_modules is missing (run scripts/install-deps); the web UI in web/dist is not rebuilt" >&2)
	@scripts/embed-assets web/dist $@

$(OBJ_GEN): $(GEN_SRC)
	@mkdir -p $(dir $@)
	@$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-missing-prototypes -c $< -o $@

$(BUILD)/libcvops.a: $(OBJ_LIB) $(OBJ_GEN)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/cvops: $(BUILD)/obj/src/main.o $(BUILD)/libcvops.a
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) $^ $(PKG_LIBS) -o $@

$(BUILD)/test-unit: $(TEST_UNIT_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libcvops.a
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) $^ $(PKG_LIBS) -lcriterion -o $@

$(BUILD)/test-api: $(TEST_API_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/libcvops.a
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) $^ $(PKG_LIBS) -lcriterion -o $@

check-unit: $(BUILD)/test-unit $(BUILD)/cvops
	tests/with-services $(BUILD)/test-unit -j$(JOBS) --short-filename

check-api-sqlite: $(BUILD)/cvops $(BUILD)/test-api
	tests/run-api sqlite $(BUILD)

check-api-pg: $(BUILD)/cvops $(BUILD)/test-api
	tests/run-api pg $(BUILD)

check-api: check-api-sqlite check-api-pg

# The sanitizer run of the API suite uses event threads (--http-threads 2):
# the other runs cover a thread per connection, the default.
check-asan:
	CVOPS_TEST_SERVE_ARGS="--http-threads 2" $(MAKE) BUILD=build-asan SAN=1 check-unit check-api-sqlite

check-web: $(BUILD)/cvops
	@if [ -f tests/web/run ]; then tests/web/run $(BUILD); fi

test-all: all check-unit check-api check-web check-asan

test:
	@scripts/install-deps
	@$(MAKE) --no-print-directory -j$(JOBS) all $(BUILD)/test-unit $(BUILD)/test-api
	@$(MAKE) --no-print-directory test-all

run:
	@scripts/install-deps
	@$(MAKE) --no-print-directory -j$(JOBS) all
	$(BUILD)/cvops serve --data ./data --listen 127.0.0.1:8080 --sample-data

bench:
	@scripts/install-deps --bench
	@$(MAKE) --no-print-directory -j$(JOBS) all
	bench/run $(BUILD)

fuzz:
	@scripts/install-deps
	@$(MAKE) --no-print-directory fuzz-build
	fuzz/run build-fuzz

# Fuzzers: the library is rebuilt with clang and -fsanitize=fuzzer-no-link.
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
fuzz-build:
	$(MAKE) BUILD=build-fuzz CC=$(CLANG) SAN=1 \
	  CFLAGS_EXTRA=-fsanitize=fuzzer-no-link build-fuzz/libcvops.a \
	  $(FUZZ_SRC:fuzz/%.c=build-fuzz/fuzz/%)

ifneq ($(CFLAGS_EXTRA),)
  CFLAGS += $(CFLAGS_EXTRA)
endif
build-fuzz/fuzz/%: fuzz/%.c build-fuzz/libcvops.a
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=fuzzer,address,undefined $< build-fuzz/libcvops.a \
	  $(PKG_LIBS) -o $@

format:
	clang-format -i $$(find src tests fuzz bench -name '*.[ch]')

clean:
	rm -rf build build-asan build-fuzz web/dist

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
