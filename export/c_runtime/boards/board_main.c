/* board_main.c: the exported model on a Cortex-M board (QEMU mps2 machines).
 *
 * Default: run the compiled-in utterances and print through semihosting SYS_WRITE0
 * (QEMU: -semihosting-config enable=on,target=native,chardev=sh0 -chardev stdio,id=sh0).
 * SAFU_UART=1: read text lines from the CMSDK APB UART0 (0x40004000, QEMU -serial stdio), print one
 * JSON line per line on the same UART, stop at EOT (0x04) and print "done n=<lines>".
 * Either way the return value of main becomes QEMU's exit code (semihosting exit in startup.c). */
#include <stdint.h>

#include "safu_app.h"

#ifndef SAFU_UART
#define SAFU_UART 0
#endif

#if SAFU_UART
/* CMSDK APB UART registers: DATA, STATE (bit0 TX full, bit1 RX full), CTRL (bit0 TX, bit1 RX enable) */
#define UART0 ((volatile uint32_t *)0x40004000u)

static void uart_putc(char c) {
    while (UART0[1] & 1u) {
    }
    UART0[0] = (uint32_t)(unsigned char)c;
}

static int uart_getc(void) {
    while (!(UART0[1] & 2u)) {
    }
    return (int)(UART0[0] & 0xffu);
}

void safu_write(const char *s) {
    while (*s) uart_putc(*s++);
}

int main(void) {
    static char line[1024];
    int32_t n = 0, lines = 0;
    UART0[2] = 3u;
    /* QEMU stops polling stdin while RX is disabled and only looks again when the guest reads DATA:
     * one read now (buffer still empty) wakes it, or input that arrived early would never come. */
    if (!(UART0[1] & 2u)) (void)UART0[0];
    for (;;) {
        int c = uart_getc();
        if (c == 0x04) break;                          /* EOT: end of input */
        if (c == '\r') continue;
        if (c == '\n') {
            safu_app_line(line, n);
            ++lines;
            n = 0;
            continue;
        }
        if (n < (int32_t)sizeof line) line[n++] = (char)c;   /* longer lines are cut */
    }
    safu_write("done n=");
    safu_write_u32((uint32_t)lines);
    safu_write("\n");
    return 0;
}
#else
void safu_write(const char *s) {
    register uint32_t r0 __asm__("r0") = 0x04;   /* SYS_WRITE0: NUL-terminated string */
    register const char *r1 __asm__("r1") = s;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
}

int main(void) { return safu_app_run_list(); }
#endif
