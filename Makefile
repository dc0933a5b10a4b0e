# otahil - build, test and certify.
#
#   make            build build/bin/otahil, otahil-dut, otahil-qemu and the QEMU firmware
#   make test       unit and end-to-end tests under ASan + UBSan
#   make certify    the reference port through the suite on the default board
#   make bench      performance figures (docs/PERFORMANCE.md)
#
# Variables: BUILD (output dir), SAN=1 (sanitizers), BOARD (certify board).

BUILD   ?= build
SAN     ?= 0
BOARD   ?= native
CC      ?= cc

WARN    := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
           -Wpointer-arith -Wformat=2 -Wno-format-zero-length -Wno-format-truncation
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -Iinclude -I. -D_GNU_SOURCE -fno-strict-aliasing
LDLIBS  := -lmosquitto -lcoap-3-openssl -lcivetweb -lcjson -linih -lcrypto -lssl -lpthread -ldl
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

# Device-side code that must stay freestanding (it will run in QEMU firmware).
FREE_SRC := $(wildcard sim/flash/flashsim.c sim/kv/*.c sim/crypto/*.c sim/util/crc16.c \
              sim/util/jtok.c sim/util/jsonesc.c sim/util/mqttc.c sim/util/mqttsign.c \
              sim/boot/*.c sim/agent/*.c \
              sim/image/image.c sim/hal/*.c)
# Host-side code kept freestanding for other peers' use: checked, not built into firmware.
FREE_HOST_SRC := mock_cloud/fwhead.c
MAIN_SRC := conformance/otahil_main.c sim/device/dut_main.c conformance/qemu_main.c
PORT_SRC := boards/ports/reference/ota_port.c
# The broker's auth plugin: a shared object loaded by the system's mosquitto,
# so it is built without sanitizers even in the sanitizer build and kept out
# of libotahil.a. It exports only the plugin entry points.
AUTH_SRC := mock_cloud/broker_auth.c mock_cloud/alisign.c sim/util/evlog.c sim/util/jsonesc.c
AUTH_SO  := $(BUILD)/lib/otahil-broker-auth.so
AUTH_CFLAGS := $(filter-out -fsanitize=% -fno-sanitize-recover=%,$(CFLAGS)) -fPIC -fvisibility=hidden
LIB_SRC  := $(filter-out $(MAIN_SRC) mock_cloud/broker_auth.c sim/fw/% sim/qemu/%, $(sort $(wildcard sim/*/*.c mock_cloud/*.c conformance/*.c)))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

BIN := $(BUILD)/bin/otahil $(BUILD)/bin/otahil-dut $(BUILD)/bin/otahil-qemu

# civetweb's HTTPS on OpenSSL 3: libcivetweb dlopens "libssl.so" and wants the
# OpenSSL 1.1 name SSL_get_peer_certificate. BUILD/lib/libssl.so defines it over
# libssl.so.3 (mock_cloud/shim/libssl_compat.c); the programs that run the
# firmware server find it through DT_RPATH (honoured by civetweb's dlopen,
# unlike DT_RUNPATH). docs/cloud.md, "HTTPS and mqtts".
SSL_SHIM := $(BUILD)/lib/libssl.so
SHIM_RPATH := -Wl,--disable-new-dtags,-rpath,'$$ORIGIN/../lib'

# Native firmware objects (sim/fw/fw.h): all device-side code plus one port,
# position-independent, exporting only otahil_fw_boot.
FW_SRC   := $(FREE_SRC) $(wildcard sim/fw/*.c)
FW_OBJ   := $(FW_SRC:%.c=$(BUILD)/fwobj/%.o)
# Known-bad variants (fixtures/ports/NAME.patch): a unified diff against the
# files below, applied to copies in $(BUILD)/fixtures/NAME, built as NAME.so
# (again when this list changes: the Makefile is a prerequisite).
PATCHABLE := boards/ports/reference/ota_port.c sim/boot/boot.c sim/agent/agent.c sim/agent/version.c
BAD_PORTS := $(sort $(basename $(notdir $(wildcard fixtures/ports/*.patch))))
FW_BASE_OBJ := $(filter-out $(PATCHABLE:%.c=$(BUILD)/fwobj/%.o),$(FW_OBJ))
FW_PORTS := reference $(BAD_PORTS)
FW_SO    := $(FW_PORTS:%=$(BUILD)/fw/%.so)
# The same variants as device processes for `otahil run --port NAME`.
DUT_BAD  := $(BAD_PORTS:%=$(BUILD)/dut/%)

.PHONY: all deps-check test unit e2e certify bench freestanding-check clean fmt vendor-port vendor-port-qemu qemu-fw
all: deps-check $(BIN) $(SSL_SHIM) $(AUTH_SO) $(FW_SO) $(DUT_BAD) $(BUILD)/boards qemu-fw

deps-check:
	@scripts/install-deps.sh --check-build >/dev/null 2>&1 || scripts/install-deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/fwobj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -MMD -MP -c $< -o $@

$(BUILD)/fw/reference.so: $(FW_OBJ) $(BUILD)/fwobj/$(PORT_SRC:.c=.o)
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS) -Wl,-z,norelro -Wl,-z,now -o $@ $^

$(BUILD)/fw/%.so: fixtures/ports/%.patch $(FW_BASE_OBJ) $(PATCHABLE) Makefile
	@rm -rf $(BUILD)/fixtures/$* && mkdir -p $(BUILD)/fixtures/$* $(dir $@)
	@for f in $(PATCHABLE); do mkdir -p $(BUILD)/fixtures/$*/$$(dirname $$f) && cp $$f $(BUILD)/fixtures/$*/$$f; done
	@patch -s -p1 -d $(BUILD)/fixtures/$* < $< || { echo "$<: does not apply to the reference sources" >&2; exit 1; }
	@for f in $(PATCHABLE); do \
	  $(CC) $(CFLAGS) -fPIC -fvisibility=hidden -c $(BUILD)/fixtures/$*/$$f -o $(BUILD)/fixtures/$*/$${f%.c}.o || exit 1; \
	done
	$(CC) -shared $(LDFLAGS) -Wl,-z,norelro -Wl,-z,now -o $@ $(FW_BASE_OBJ) $(PATCHABLE:%.c=$(BUILD)/fixtures/$*/%.o)

# Built from the patched copies the firmware object's rule made; the patched
# objects come before the archive, so its reference members are not linked.
$(BUILD)/dut/%: $(BUILD)/fw/%.so $(BUILD)/obj/sim/device/dut_main.o $(BUILD)/libotahil.a
	@mkdir -p $(dir $@)
	@for f in $(PATCHABLE); do \
	  $(CC) $(CFLAGS) -c $(BUILD)/fixtures/$*/$$f -o $(BUILD)/fixtures/$*/$${f%.c}.dut.o || exit 1; \
	done
	$(CC) $(LDFLAGS) -o $@ $(BUILD)/obj/sim/device/dut_main.o $(PATCHABLE:%.c=$(BUILD)/fixtures/$*/%.dut.o) $(BUILD)/libotahil.a $(LDLIBS)

$(AUTH_SO): $(AUTH_SRC) mock_cloud/alisign.h sim/util/evlog.h sim/util/event.h
	@mkdir -p $(dir $@)
	$(CC) $(AUTH_CFLAGS) -shared -o $@ $(AUTH_SRC) -lcrypto -lpthread

$(BUILD)/libotahil.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/otahil: $(BUILD)/obj/conformance/otahil_main.o $(BUILD)/libotahil.a | $(SSL_SHIM) $(AUTH_SO)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(SHIM_RPATH) -o $@ $^ $(LDLIBS)

# No sanitizer flags: it is loaded into civetweb's process by dlopen.
$(SSL_SHIM): mock_cloud/shim/libssl_compat.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 $(WARN) -shared -fPIC -Wl,-soname,libssl.so -o $@ $< -l:libssl.so.3

# The device under test: the reference port linked with the simulated device.
$(BUILD)/bin/otahil-dut: $(BUILD)/obj/sim/device/dut_main.o $(BUILD)/obj/$(PORT_SRC:.c=.o) $(BUILD)/libotahil.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The QEMU target's one-boot runner (conformance/qemu.c, docs/qemu.md).
$(BUILD)/bin/otahil-qemu: $(BUILD)/obj/conformance/qemu_main.o $(BUILD)/libotahil.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Boards are data: the build tree points at the source folder.
$(BUILD)/boards:
	@mkdir -p $(BUILD)
	@ln -sfn $(CURDIR)/boards $@

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libotahil.a | $(SSL_SHIM) $(AUTH_SO)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(SHIM_RPATH) -o $@ $^ $(LDLIBS) -lcmocka

# Device-side modules must build for a Cortex-M3 with no host libraries.
ARM_CC    := arm-none-eabi-gcc
ARM_FLAGS := -mcpu=cortex-m3 -mthumb -Os -std=gnu11 -ffreestanding -fno-delete-null-pointer-checks \
             $(WARN) -Iinclude -I.
# The QEMU firmware's own network (sim/qemu/net: LAN9118 driver, IP stack,
# their test program) is checked too.
QEMU_NET_SRC := $(wildcard sim/qemu/net/*.c)
freestanding-check:
	@mkdir -p $(BUILD)/arm
	@for f in $(FREE_SRC) $(PORT_SRC) $(FREE_HOST_SRC) $(QEMU_NET_SRC); do \
	  $(ARM_CC) $(ARM_FLAGS) -c $$f -o $(BUILD)/arm/$$(echo $$f | tr / _).o || exit 1; \
	done
	@echo "freestanding-check: $(words $(FREE_SRC) $(PORT_SRC) $(FREE_HOST_SRC) $(QEMU_NET_SRC)) freestanding files build for cortex-m3"

# QEMU firmware (docs/qemu.md): the same freestanding sources and port as the
# native firmware object, with sim/fw/fw_main.c's start-up and OS layer, over
# sim/qemu's start-up, UART driver and mailbox client, for a Cortex-M3
# (mps2-an385). newlib only for malloc and the printf family.
QEMU_FW     := $(BUILD)/qemu/otahil-fw.elf
QEMU_FW_SRC := $(FREE_SRC) sim/fw/fw_main.c $(PORT_SRC) $(wildcard sim/qemu/*.c) sim/qemu/stage/one.c
QEMU_FW_OBJ := $(QEMU_FW_SRC:%.c=$(BUILD)/qemu/obj/%.o)
# The boot chain (docs/qemu.md, "Boot chain"): a bootloader program at 0x0
# (otahil-boot.elf) and the application programs it copies from a slot into
# the RAM execution area and enters, one build per version (app-v1, app-v2),
# each wrapped by `otahil image make --payload` as an otahil image
# (app-v1.img, app-v2.img).
QEMU_COMMON_OBJ := $(filter-out $(BUILD)/qemu/obj/sim/qemu/stage/one.o,$(QEMU_FW_OBJ))
QEMU_BOOT       := $(BUILD)/qemu/otahil-boot.elf
QEMU_APP_V1     := app-1.0.0-20180101.1000
QEMU_APP_V2     := app-2.0.0-20260101.1200
QEMU_APPS       := v1 v2
QEMU_APP_IMG    := $(QEMU_APPS:%=$(BUILD)/qemu/app-%.img)
.SECONDARY: $(QEMU_APPS:%=$(BUILD)/qemu/app-%.elf) $(QEMU_APPS:%=$(BUILD)/qemu/obj/app-%.o)
# Known-bad variants as QEMU firmware (build/qemu/NAME.elf), from the patched
# copies the firmware object's rule made. Patched sources that do not build
# for the Cortex-M3 leave NAME.elf.why (the compiler's first error) instead,
# which `otahil run --target qemu --port NAME` reports as ERROR.
QEMU_FW_BAD      := $(BAD_PORTS:%=$(BUILD)/qemu/%.elf)
QEMU_FW_BASE_OBJ := $(filter-out $(PATCHABLE:%.c=$(BUILD)/qemu/obj/%.o),$(QEMU_FW_OBJ))
# The firmware's fixed part, for a vendor's port built at certify time
# (vendor-port-qemu below): every QEMU object of the boot chain but the port
# and the stages, so that only the vendor's sources are compiled then.
QEMU_FW_LIB     := $(BUILD)/qemu/libotahil-fw.a
QEMU_FW_LIB_OBJ := $(filter-out $(BUILD)/qemu/obj/$(PORT_SRC:.c=.o),$(QEMU_COMMON_OBJ))
# The boot chain with its own IP stack (below).
QEMU_NIC_SRC := $(filter-out sim/qemu/net/nettest.c,$(wildcard sim/qemu/net/*.c))
QEMU_NIC_OBJ := $(filter-out $(BUILD)/qemu/obj/sim/qemu/os_qemu.o,$(QEMU_COMMON_OBJ)) \
                $(BUILD)/qemu/obj/nic/os_qemu.o $(QEMU_NIC_SRC:%.c=$(BUILD)/qemu/obj/%.o)
QEMU_NIC     := $(BUILD)/qemu/nic-boot.elf $(QEMU_APPS:%=$(BUILD)/qemu/nic-app-%.bin)
QEMU_QUIET_OBJ := $(filter-out $(BUILD)/qemu/obj/nic/os_qemu.o,$(QEMU_NIC_OBJ)) $(BUILD)/qemu/obj/quiet/os_qemu.o
QEMU_NIC     += $(BUILD)/qemu/quiet-nic-boot.elf $(QEMU_APPS:%=$(BUILD)/qemu/quiet-nic-app-%.bin)
QEMU_NIC_BASE_OBJ := $(filter-out $(PATCHABLE:%.c=$(BUILD)/qemu/obj/%.o),$(QEMU_NIC_OBJ))
QEMU_FW_NIC_LIB     := $(BUILD)/qemu/libotahil-fw-nic.a
QEMU_FW_NIC_LIB_OBJ := $(filter-out $(BUILD)/qemu/obj/$(PORT_SRC:.c=.o),$(QEMU_NIC_OBJ))
.SECONDARY: $(QEMU_APPS:%=$(BUILD)/qemu/nic-app-%.elf)
# Firmware with its own IP stack (docs/qemu.md, "Own IP stack on the
# LAN9118"): sim/qemu/net's LAN9118 driver and IP stack, kept out of
# sim/qemu/*.c so the mailbox programs do not link them, with the start-up
# and the UART driver; nettest.elf proves them on QEMU's -nic user
# (tests/e2e/qemu_net.sh).
QEMU_NETTEST     := $(BUILD)/qemu/nettest.elf
QEMU_NETTEST_OBJ := $(patsubst %.c,$(BUILD)/qemu/obj/%.o,sim/qemu/startup.c sim/qemu/uart.c \
                      sim/qemu/net/lan9118.c sim/qemu/net/ipstack.c sim/qemu/net/nettest.c)
HAVE_ARM_CC := $(shell command -v $(ARM_CC) 2>/dev/null)
ifneq ($(HAVE_ARM_CC),)
qemu-fw: $(QEMU_FW) $(QEMU_FW_BAD) $(QEMU_BOOT) $(QEMU_APP_IMG) $(QEMU_FW_LIB) $(QEMU_NIC) \
         $(QEMU_FW_NIC_LIB) $(QEMU_NETTEST)
else
qemu-fw:
	@echo "qemu-fw: $(ARM_CC) not found (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi," \
	  "scripts/install-deps.sh): the QEMU target is not built"
endif

$(BUILD)/qemu/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(ARM_CC) $(ARM_FLAGS) -ffunction-sections -fdata-sections -g -MMD -MP -c $< -o $@

UC = $(shell echo $(1) | tr a-z A-Z)

$(QEMU_FW): $(QEMU_FW_OBJ) sim/qemu/qemu.ld sim/qemu/sections.ld
	@mkdir -p $(dir $@)
	$(ARM_CC) -mcpu=cortex-m3 -mthumb -nostartfiles -T sim/qemu/qemu.ld -Wl,--gc-sections \
	  -Wl,-Map,$(BUILD)/qemu/otahil-fw.map -o $@.tmp $(QEMU_FW_OBJ) -lc -lgcc
	mv $@.tmp $@

$(QEMU_BOOT): $(QEMU_COMMON_OBJ) $(BUILD)/qemu/obj/sim/qemu/stage/boot.o sim/qemu/boot.ld sim/qemu/sections.ld
	@mkdir -p $(dir $@)
	$(ARM_CC) -mcpu=cortex-m3 -mthumb -nostartfiles -T sim/qemu/boot.ld -Wl,--gc-sections \
	  -Wl,-Map,$(BUILD)/qemu/otahil-boot.map -o $@.tmp $(filter %.o,$^) -lc -lgcc
	mv $@.tmp $@

$(QEMU_FW_LIB): $(QEMU_FW_LIB_OBJ)
	@rm -f $@.tmp
	arm-none-eabi-ar rcs $@.tmp $^
	mv $@.tmp $@

# The same for the chain with its own IP stack (--net user).
$(QEMU_FW_NIC_LIB): $(QEMU_FW_NIC_LIB_OBJ)
	@rm -f $@.tmp
	arm-none-eabi-ar rcs $@.tmp $^
	mv $@.tmp $@

$(BUILD)/qemu/obj/app-%.o: sim/qemu/stage/app.c
	@mkdir -p $(dir $@)
	$(ARM_CC) $(ARM_FLAGS) -ffunction-sections -fdata-sections -g -MMD -MP \
	  -DOTAHIL_APP_VERSION='"$(QEMU_APP_$(call UC,$*))"' -c $< -o $@

$(BUILD)/qemu/app-%.elf: $(QEMU_COMMON_OBJ) $(BUILD)/qemu/obj/app-%.o sim/qemu/app.ld sim/qemu/sections.ld
	$(ARM_CC) -mcpu=cortex-m3 -mthumb -nostartfiles -T sim/qemu/app.ld -Wl,--gc-sections \
	  -Wl,-Map,$(BUILD)/qemu/app-$*.map -o $@.tmp $(filter %.o,$^) -lc -lgcc
	mv $@.tmp $@

$(BUILD)/qemu/app-%.img: $(BUILD)/qemu/app-%.elf $(BUILD)/bin/otahil
	arm-none-eabi-objcopy -O binary $< $(BUILD)/qemu/app-$*.bin.tmp
	mv $(BUILD)/qemu/app-$*.bin.tmp $(BUILD)/qemu/app-$*.bin
	$(BUILD)/bin/otahil image make --version $(QEMU_APP_$(call UC,$*)) --payload $(BUILD)/qemu/app-$*.bin -o $@ >/dev/null

# The boot chain with its own IP stack (docs/qemu.md, "Own IP stack"):
# os_qemu.c built for OTAHIL_QEMU_NIC (events and each boot's end as console
# lines, no mailbox request) and the network of sim/qemu/net (LAN9118 driver,
# IPv4/TCP, sockets and the MQTT session) for QEMU's -nic user (the
# variables are set above, before qemu-fw needs them).

# ... and once more as a firmware seen only from outside (OTAHIL_QEMU_QUIET: no
# events, no heartbeat, a system reset to reboot): quiet-nic-boot.elf and
# quiet-nic-app-vN.bin, what tests/e2e/qemu_nic.sh certifies as a black box.
$(BUILD)/qemu/obj/quiet/os_qemu.o: sim/qemu/os_qemu.c
	@mkdir -p $(dir $@)
	$(ARM_CC) $(ARM_FLAGS) -ffunction-sections -fdata-sections -g -MMD -MP -DOTAHIL_QEMU_NIC \
	  -DOTAHIL_QEMU_QUIET -c $< -o $@

$(BUILD)/qemu/quiet-nic-boot.elf: $(QEMU_QUIET_OBJ) $(BUILD)/qemu/obj/sim/qemu/stage/boot.o sim/qemu/boot.ld sim/qemu/sections.ld
	$(ARM_CC) -mcpu=cortex-m3 -mthumb -nostartfiles -T sim/qemu/boot.ld -Wl,--gc-sections \
	  -o $@.tmp $(filter %.o,$^) -lc -lgcc
	mv $@.tmp $@

$(BUILD)/qemu/quiet-nic-app-%.bin: $(QEMU_QUIET_OBJ) $(BUILD)/qemu/obj/app-%.o sim/qemu/app.ld sim/qemu/sections.ld
	$(ARM_CC) -mcpu=cortex-m3 -mthumb -nostartfiles -T sim/qemu/app.ld -Wl,--gc-sections \
	  -o $(BUILD)/qemu/quiet-nic-app-$*.elf $(filter %.o,$^) -lc -lgcc
	arm-none-eabi-objcopy -O binary $(BUILD)/qemu/quiet-nic-app-$*.elf $@.tmp
	mv $@.tmp $@

$(BUILD)/qemu/obj/nic/os_qemu.o: sim/qemu/os_qemu.c
	@mkdir -p $(dir $@)
	$(ARM_CC) $(ARM_FLAGS) -ffunction-sections -fdata-sections -g -MMD -MP -DOTAHIL_QEMU_NIC -c $< -o $@

$(BUILD)/qemu/nic-boot.elf: $(QEMU_NIC_OBJ) $(BUILD)/qemu/obj/sim/qemu/stage/boot.o sim/qemu/boot.ld sim/qemu/sections.ld
	$(ARM_CC) -mcpu=cortex-m3 -mthumb -nostartfiles -T sim/qemu/boot.ld -Wl,--gc-sections \
	  -Wl,-Map,$(BUILD)/qemu/nic-boot.map -o $@.tmp $(filter %.o,$^) -lc -lgcc
	mv $@.tmp $@

$(BUILD)/qemu/nic-app-%.elf: $(QEMU_NIC_OBJ) $(BUILD)/qemu/obj/app-%.o sim/qemu/app.ld sim/qemu/sections.ld
	$(ARM_CC) -mcpu=cortex-m3 -mthumb -nostartfiles -T sim/qemu/app.ld -Wl,--gc-sections \
	  -Wl,-Map,$(BUILD)/qemu/nic-app-$*.map -o $@.tmp $(filter %.o,$^) -lc -lgcc
	mv $@.tmp $@

$(BUILD)/qemu/nic-app-%.bin: $(BUILD)/qemu/nic-app-%.elf
	arm-none-eabi-objcopy -O binary $< $@.tmp
	mv $@.tmp $@

# Firmware with its own IP stack: the rule for nettest.elf (its variables are
# above qemu-fw, whose prerequisites they are).
$(QEMU_NETTEST): $(QEMU_NETTEST_OBJ) sim/qemu/qemu.ld sim/qemu/sections.ld
	$(ARM_CC) -mcpu=cortex-m3 -mthumb -nostartfiles -T sim/qemu/qemu.ld -Wl,--gc-sections \
	  -Wl,-Map,$(BUILD)/qemu/nettest.map -o $@.tmp $(QEMU_NETTEST_OBJ) -lc -lgcc
	mv $@.tmp $@

# A variant's boot chain too: NAME-boot.elf and NAME-app-v1.bin, -v2.bin (the
# programs the harness wraps as images), from the same patched objects.
QEMU_CHAIN_BASE_OBJ := $(filter-out $(BUILD)/qemu/obj/sim/qemu/stage/one.o,$(QEMU_FW_BASE_OBJ))
$(BUILD)/qemu/%.elf: $(BUILD)/fw/%.so $(QEMU_FW_BASE_OBJ) sim/qemu/qemu.ld sim/qemu/sections.ld \
    $(BUILD)/qemu/obj/sim/qemu/stage/boot.o $(QEMU_APPS:%=$(BUILD)/qemu/obj/app-%.o) sim/qemu/boot.ld sim/qemu/app.ld \
    $(QEMU_NIC_BASE_OBJ)
	@rm -f $@.why
	@for f in $(PATCHABLE); do \
	  $(ARM_CC) $(ARM_FLAGS) -ffunction-sections -fdata-sections -g -c $(BUILD)/fixtures/$*/$$f \
	    -o $(BUILD)/fixtures/$*/$${f%.c}.arm.o 2>$@.log || { grep -m1 'error' $@.log > $@.why || echo "$$f: the compiler failed" > $@.why; \
	    echo "$@: fixtures/ports/$*.patch does not build for the QEMU target (see $@.why)" >&2; exit 0; }; \
	done
	$(ARM_CC) -mcpu=cortex-m3 -mthumb -nostartfiles -T sim/qemu/qemu.ld -Wl,--gc-sections -o $@.tmp \
	  $(QEMU_FW_BASE_OBJ) $(PATCHABLE:%.c=$(BUILD)/fixtures/$*/%.arm.o) -lc -lgcc
	@rm -f $@.log
	$(ARM_CC) -mcpu=cortex-m3 -mthumb -nostartfiles -T sim/qemu/boot.ld -Wl,--gc-sections \
	  -o $(BUILD)/qemu/$*-boot.elf.tmp $(QEMU_CHAIN_BASE_OBJ) $(BUILD)/qemu/obj/sim/qemu/stage/boot.o \
	  $(PATCHABLE:%.c=$(BUILD)/fixtures/$*/%.arm.o) -lc -lgcc
	mv $(BUILD)/qemu/$*-boot.elf.tmp $(BUILD)/qemu/$*-boot.elf
	for v in $(QEMU_APPS); do \
	  $(ARM_CC) -mcpu=cortex-m3 -mthumb -nostartfiles -T sim/qemu/app.ld -Wl,--gc-sections \
	    -o $(BUILD)/qemu/$*-app-$$v.elf $(QEMU_CHAIN_BASE_OBJ) $(BUILD)/qemu/obj/app-$$v.o \
	    $(PATCHABLE:%.c=$(BUILD)/fixtures/$*/%.arm.o) -lc -lgcc && \
	  arm-none-eabi-objcopy -O binary $(BUILD)/qemu/$*-app-$$v.elf $(BUILD)/qemu/$*-app-$$v.bin.tmp && \
	  mv $(BUILD)/qemu/$*-app-$$v.bin.tmp $(BUILD)/qemu/$*-app-$$v.bin || exit 1; \
	done
	$(ARM_CC) -mcpu=cortex-m3 -mthumb -nostartfiles -T sim/qemu/boot.ld -Wl,--gc-sections \
	  -o $(BUILD)/qemu/$*-nic-boot.elf.tmp $(QEMU_NIC_BASE_OBJ) $(BUILD)/qemu/obj/sim/qemu/stage/boot.o \
	  $(PATCHABLE:%.c=$(BUILD)/fixtures/$*/%.arm.o) -lc -lgcc
	mv $(BUILD)/qemu/$*-nic-boot.elf.tmp $(BUILD)/qemu/$*-nic-boot.elf
	for v in $(QEMU_APPS); do \
	  $(ARM_CC) -mcpu=cortex-m3 -mthumb -nostartfiles -T sim/qemu/app.ld -Wl,--gc-sections \
	    -o $(BUILD)/qemu/$*-nic-app-$$v.elf $(QEMU_NIC_BASE_OBJ) $(BUILD)/qemu/obj/app-$$v.o \
	    $(PATCHABLE:%.c=$(BUILD)/fixtures/$*/%.arm.o) -lc -lgcc && \
	  arm-none-eabi-objcopy -O binary $(BUILD)/qemu/$*-nic-app-$$v.elf $(BUILD)/qemu/$*-nic-app-$$v.bin.tmp && \
	  mv $(BUILD)/qemu/$*-nic-app-$$v.bin.tmp $(BUILD)/qemu/$*-nic-app-$$v.bin || exit 1; \
	done
	mv $@.tmp $@

unit: deps-check
	@$(MAKE) --no-print-directory BUILD=build/san SAN=1 build/san/bin/otahil build/san/bin/otahil-dut build/san/bin/otahil-qemu qemu-fw build/san/lib/libssl.so build/san/lib/otahil-broker-auth.so build/san/boards $(FW_PORTS:%=build/san/fw/%.so) $(BAD_PORTS:%=build/san/dut/%) $(TEST_BIN:$(BUILD)/%=build/san/%)

test: deps-check unit freestanding-check
	@scripts/run-tests.sh build/san

bench: all
	@scripts/bench.sh $(BUILD)

certify: all
	@$(BUILD)/bin/otahil certify --board $(BOARD)

# `otahil certify --port FILE.c ...`: a vendor's sources, unchanged, built
# against include/ as the device under test (VENDOR_OUT/otahil-dut) and as
# the firmware object the sweeps boot (VENDOR_OUT/port.so). No -Werror: the
# vendor's code is compiled as the vendor compiles it.
VENDOR_SAN    := -fsanitize=address,undefined -fno-omit-frame-pointer
VENDOR_CFLAGS := -std=gnu11 -O1 -g -Iinclude -I. -D_GNU_SOURCE -fno-strict-aliasing \
                 $(if $(filter 1,$(SAN)),$(VENDOR_SAN))
FW_NOMAIN_OBJ := $(filter-out $(BUILD)/fwobj/sim/fw/fw_main.o,$(FW_OBJ))
vendor-port: $(BUILD)/libotahil.a $(FW_OBJ) $(BUILD)/obj/sim/device/dut_main.o
	@test -n "$(VENDOR_SRCS)" -a -n "$(VENDOR_MODULE)" -a -n "$(VENDOR_OUT)" || \
	  { echo "vendor-port: set VENDOR_SRCS, VENDOR_MODULE and VENDOR_OUT" >&2; exit 2; }
	@mkdir -p $(VENDOR_OUT)/obj
	@set -e; objs=; pics=; for f in $(VENDOR_SRCS); do b=$$(basename $${f%.c}); \
	  $(CC) $(VENDOR_CFLAGS) -I$$(dirname $$f) -c $$f -o $(VENDOR_OUT)/obj/$$b.o; \
	  $(CC) $(VENDOR_CFLAGS) -I$$(dirname $$f) -fPIC -fvisibility=hidden -c $$f -o $(VENDOR_OUT)/obj/$$b.pic.o; \
	  objs="$$objs $(VENDOR_OUT)/obj/$$b.o"; pics="$$pics $(VENDOR_OUT)/obj/$$b.pic.o"; done; \
	$(CC) $(CFLAGS) -DOTAHIL_PORT_MODULE=$(VENDOR_MODULE) -c sim/device/dut_main.c -o $(VENDOR_OUT)/obj/dut_main.o; \
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -DOTAHIL_PORT_MODULE=$(VENDOR_MODULE) -c sim/fw/fw_main.c \
	  -o $(VENDOR_OUT)/obj/fw_main.pic.o; \
	$(CC) $(LDFLAGS) -o $(VENDOR_OUT)/otahil-dut.tmp $(VENDOR_OUT)/obj/dut_main.o $$objs $(BUILD)/libotahil.a $(LDLIBS); \
	$(CC) -shared $(LDFLAGS) -Wl,-z,norelro -Wl,-z,now -o $(VENDOR_OUT)/port.so.tmp $(FW_NOMAIN_OBJ) \
	  $(VENDOR_OUT)/obj/fw_main.pic.o $$pics; \
	mv $(VENDOR_OUT)/otahil-dut.tmp $(VENDOR_OUT)/otahil-dut; mv $(VENDOR_OUT)/port.so.tmp $(VENDOR_OUT)/port.so

# `otahil certify --target qemu --port FILE.c ...`: the vendor's sources,
# unchanged, compiled for the Cortex-M3 with the firmware's flags (no -Werror,
# as vendor-port) and linked with the firmware's fixed part (QEMU_FW_LIB) and
# the stages qemu-fw compiled, into VENDOR_OUT: port-boot.elf, the bootloader
# program (sim/boot calls no port function, so it holds none of the vendor's
# code), and port-app-v1.bin, port-app-v2.bin, the application programs the
# harness wraps as images. fw_main.o registers reference_ota_module: another
# module name is bound to it at link time (--defsym), so nothing of otahil's
# is compiled again.
VENDOR_ARM_FLAGS := -mcpu=cortex-m3 -mthumb -Os -std=gnu11 -ffreestanding -fno-delete-null-pointer-checks \
                    -ffunction-sections -fdata-sections -g -Iinclude -I.
ARM_LINK := $(ARM_CC) -mcpu=cortex-m3 -mthumb -nostartfiles -Wl,--gc-sections
VENDOR_BIND = $(if $(filter reference_ota_module,$(VENDOR_MODULE)),,-Wl,--defsym=reference_ota_module=$(VENDOR_MODULE))
ifeq ($(HAVE_ARM_CC),)
vendor-port-qemu:
	@echo "vendor-port-qemu: error: $(ARM_CC) not found (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi," \
	  "scripts/install-deps.sh)" >&2; exit 2
else
vendor-port-qemu: $(QEMU_FW_LIB) $(QEMU_FW_NIC_LIB) $(BUILD)/qemu/obj/sim/qemu/stage/boot.o $(QEMU_APPS:%=$(BUILD)/qemu/obj/app-%.o)
	@test -n "$(VENDOR_SRCS)" -a -n "$(VENDOR_MODULE)" -a -n "$(VENDOR_OUT)" || \
	  { echo "vendor-port-qemu: set VENDOR_SRCS, VENDOR_MODULE and VENDOR_OUT" >&2; exit 2; }
	@mkdir -p $(VENDOR_OUT)/arm
	@set -e; objs=; for f in $(VENDOR_SRCS); do b=$$(basename $${f%.c}); \
	  $(ARM_CC) $(VENDOR_ARM_FLAGS) -I$$(dirname $$f) -c $$f -o $(VENDOR_OUT)/arm/$$b.o; \
	  objs="$$objs $(VENDOR_OUT)/arm/$$b.o"; done; \
	$(ARM_LINK) -T sim/qemu/boot.ld -o $(VENDOR_OUT)/port-boot.elf.tmp \
	  $(BUILD)/qemu/obj/sim/qemu/stage/boot.o $(QEMU_FW_LIB) -lc -lgcc; \
	for v in $(QEMU_APPS); do \
	  $(ARM_LINK) -T sim/qemu/app.ld $(VENDOR_BIND) -Wl,-Map,$(VENDOR_OUT)/port-app-$$v.map \
	    -o $(VENDOR_OUT)/port-app-$$v.elf.tmp $(BUILD)/qemu/obj/app-$$v.o $$objs $(QEMU_FW_LIB) -lc -lgcc; \
	  arm-none-eabi-objcopy -O binary $(VENDOR_OUT)/port-app-$$v.elf.tmp $(VENDOR_OUT)/port-app-$$v.bin.tmp; \
	done; \
	$(ARM_LINK) -T sim/qemu/boot.ld -o $(VENDOR_OUT)/port-nic-boot.elf.tmp \
	  $(BUILD)/qemu/obj/sim/qemu/stage/boot.o $(QEMU_FW_NIC_LIB) -lc -lgcc; \
	for v in $(QEMU_APPS); do \
	  $(ARM_LINK) -T sim/qemu/app.ld $(VENDOR_BIND) -Wl,-Map,$(VENDOR_OUT)/port-nic-app-$$v.map \
	    -o $(VENDOR_OUT)/port-nic-app-$$v.elf.tmp $(BUILD)/qemu/obj/app-$$v.o $$objs $(QEMU_FW_NIC_LIB) -lc -lgcc; \
	  arm-none-eabi-objcopy -O binary $(VENDOR_OUT)/port-nic-app-$$v.elf.tmp $(VENDOR_OUT)/port-nic-app-$$v.bin.tmp; \
	done; \
	for v in $(QEMU_APPS); do for p in port port-nic; do mv $(VENDOR_OUT)/$$p-app-$$v.elf.tmp $(VENDOR_OUT)/$$p-app-$$v.elf; \
	  mv $(VENDOR_OUT)/$$p-app-$$v.bin.tmp $(VENDOR_OUT)/$$p-app-$$v.bin; done; done; \
	mv $(VENDOR_OUT)/port-nic-boot.elf.tmp $(VENDOR_OUT)/port-nic-boot.elf; \
	mv $(VENDOR_OUT)/port-boot.elf.tmp $(VENDOR_OUT)/port-boot.elf
endif

fmt:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/fwobj $(BUILD)/qemu -name '*.d' 2>/dev/null)
