# Cortex-M4 bare metal (mps2-an386 under QEMU): cmake -DCMAKE_TOOLCHAIN_FILE=<this file>
# Tests run through qemu-system-arm with semihosting (see docs/deploy.md).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)   # no _exit to link a test program against
set(SAFU_BOARD m4)
set(SAFU_QEMU_MACHINE mps2-an386)
set(MCU_FLAGS "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16")
set(CMAKE_C_FLAGS_INIT "${MCU_FLAGS} -ffunction-sections -fdata-sections -ffp-contract=off -ffreestanding")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${MCU_FLAGS} -Wl,--gc-sections -nostdlib")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-system-arm;-M;mps2-an386;-nographic;-monitor;none;-serial;none;-nic;none;-chardev;stdio,id=sh0;-semihosting-config;enable=on,target=native,chardev=sh0;-kernel)
