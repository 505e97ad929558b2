/* board_main.c: the exported model on a Cortex-M board under QEMU. Output goes through
 * semihosting SYS_WRITE0 (QEMU: -semihosting-config enable=on,target=native,chardev=...);
 * the return value of main becomes QEMU's exit code. */
#include <stdint.h>

#include "safu_app.h"

void safu_write(const char *s) {
    register uint32_t r0 __asm__("r0") = 0x04;   /* SYS_WRITE0: NUL-terminated string */
    register const char *r1 __asm__("r1") = s;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
}

int main(void) { return safu_app_run_list(); }
