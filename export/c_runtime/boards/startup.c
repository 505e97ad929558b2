/* startup.c: minimal Cortex-M start-up for the QEMU mps2 boards (and real M3/M4/M7 parts).
 * Copies .data, zeroes .bss, enables the FPU when compiled for one, calls exit(main()).
 * A fault ends the program with exit code 99 through semihosting. Compile with gcc, not g++. */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);
int main(void);
void exit(int code);
void Reset_Handler(void);
void Default_Handler(void);

/* Semihosting SYS_EXIT_EXTENDED (0x20): ADP_Stopped_ApplicationExit with an exit code. */
void safu_board_exit(int code) {
    volatile uint32_t block[2] = {0x20026u, (uint32_t)code};
    register uint32_t r0 __asm__("r0") = 0x20;
    register volatile uint32_t *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    for (;;) {
    }
}

void exit(int code) { safu_board_exit(code); }

void Default_Handler(void) { safu_board_exit(99); }

void Reset_Handler(void) {
    uint32_t *src = &_sidata, *dst = &_sdata;
    void (**f)(void);
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;   /* CPACR: full access to CP10/CP11 */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    for (f = __init_array_start; f < __init_array_end; ++f) (*f)();
    exit(main());
}

__attribute__((section(".isr_vector"), used)) void (*const g_vectors[16])(void) = {
    (void (*)(void))&_estack, Reset_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, 0, 0, 0, 0,
    Default_Handler, Default_Handler, 0, Default_Handler, Default_Handler,
};

/* GCC may emit calls to these even with -nostdlib. */
void *memset(void *d, int c, unsigned int n) {
    unsigned char *p = (unsigned char *)d;
    while (n--) *p++ = (unsigned char)c;
    return d;
}
void *memcpy(void *d, const void *s, unsigned int n) {
    unsigned char *p = (unsigned char *)d;
    const unsigned char *q = (const unsigned char *)s;
    while (n--) *p++ = *q++;
    return d;
}
