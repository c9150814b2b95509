# The two commands of the README:
#   make demo   the main job, no VM, no root
#   make check  build and run every test (installs what it lacks when root)
BUILD ?= build

.PHONY: all demo check deps clean install bench deb

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	@scripts/deps.sh build
	meson setup $(BUILD) $(if $(CI),-Dwerror=true)

demo: all
	scripts/demo.sh $(BUILD)

check:
	scripts/check.sh

bench: all
	$(BUILD)/src/cli/ivshmem bench doorbell
	$(BUILD)/src/cli/ivshmem bench chan

install: all
	meson install -C $(BUILD)

# The Debian packages, into $(BUILD)/deb (scripts/deb.sh)
deb:
	scripts/deb.sh $(BUILD)/deb

clean:
	rm -rf $(BUILD) build-asan build-tsan
