/*
 * startup.c - start-up of the otahil firmware on QEMU mps2-an385: the
 * Cortex-M3 vector table, the reset handler (copy .data, zero .bss, start
 * the 1 kHz SysTick, call main), fault handlers (a fault is a crash: the
 * boot ends as a watchdog reset would end it), semihosting SYS_EXIT_EXTENDED
 * (the only way the guest tells QEMU's exit status), WFI idling, and the few
 * system calls newlib's malloc and printf family need (_sbrk and friends).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "sim/device/dut.h"
#include "sim/qemu/qboot.h"
#include "sim/qemu/qemu_fw.h"

extern uint32_t _data_load[], _data_start[], _data_end[], _bss_start[], _bss_end[];
extern uint8_t _heap_start[], _heap_end[];
extern uint32_t _stack_top[];
int main(void);

#define SYST_CSR  (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR  (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR  (*(volatile uint32_t *)0xE000E018u)
#define SCB_VTOR  (*(volatile uint32_t *)0xE000ED08u)
#define SYSCLK_HZ 25000000u /* mps2-an385 */

static volatile uint32_t g_ms;

uint32_t qemu_ms(void) { return g_ms; }

void qemu_wfi(void) { __asm__ volatile("dsb\n\twfi" ::: "memory"); }

/* Semihosting SYS_EXIT_EXTENDED (0x20): QEMU exits with status code. */
void qemu_exit(int code)
{
    static volatile uint32_t block[2];
    block[0] = 0x20026u; /* ADP_Stopped_ApplicationExit */
    block[1] = (uint32_t)code;
    register uint32_t r0 __asm__("r0") = 0x20u;
    register volatile uint32_t *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    for (;;)
        qemu_wfi();
}

/* The FPGA's 100 Hz counter (mps2 FPGAIO CLK100HZ), which QEMU derives from
 * its virtual clock when read. SysTick interrupts QEMU could not deliver in
 * time (a busy host) are lost, and a clock that only counts them falls
 * behind real time (by a tenth under load); each tick catches up with it. */
#define FPGAIO_CLK100HZ (*(volatile uint32_t *)0x40028014u)
static uint32_t g_c100_base;

static void systick_handler(void)
{
    g_ms++;
    uint32_t c = (FPGAIO_CLK100HZ - g_c100_base) * 10u;
    if ((int32_t)(c - g_ms) > 0)
        g_ms = c;
    qemu_tick(g_ms);
}

static void fault_handler(void)
{
    qemu_crash("hard fault");
}

static void default_handler(void)
{
    qemu_crash("unexpected interrupt");
}

/* The LAN9118's interrupt (IRQ 13): sim/qemu/net/lan9118.c's handler in a
 * program that links the driver, else the default. */
void qemu_eth_irq(void) __attribute__((weak, alias("default_handler")));

typedef void (*vector_fn)(void);
static const vector_fn g_vectors[16 + 32];

void qemu_reset(void) __attribute__((noreturn));
void qemu_reset(void)
{
    for (uint32_t *s = _data_load, *d = _data_start; d < _data_end;)
        *d++ = *s++;
    for (uint32_t *d = _bss_start; d < _bss_end;)
        *d++ = 0;
    SCB_VTOR = (uint32_t)(uintptr_t)g_vectors; /* 0, or the execution area (qboot.h) */
    g_c100_base = FPGAIO_CLK100HZ;
    SYST_RVR = SYSCLK_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 0x7u; /* processor clock, interrupt, enable */
    __asm__ volatile("cpsie i" ::: "memory"); /* the bootloader enters an application with them off */
    qemu_exit(main());
}

/* Cortex-M3 exceptions, then the mps2-an385 interrupts (UART1 RX is IRQ 2,
 * the LAN9118 IRQ 13).
 * Word 7 (reserved) marks a program the bootloader may enter (qboot.h). */
__attribute__((section(".vectors"), used)) static const vector_fn g_vectors[16 + 32] = {
    (vector_fn)(uintptr_t)_stack_top,
    qemu_reset,
    fault_handler,     /* NMI */
    fault_handler,     /* HardFault */
    fault_handler,     /* MemManage */
    fault_handler,     /* BusFault */
    fault_handler,     /* UsageFault */
    (vector_fn)(uintptr_t)QBOOT_APP_MAGIC, 0, 0, 0,
    default_handler,   /* SVCall */
    default_handler,   /* DebugMon */
    0,
    default_handler,   /* PendSV */
    systick_handler,
    default_handler, default_handler, qemu_uart1_rx_irq, default_handler,
    default_handler, default_handler, default_handler, default_handler,
    default_handler, default_handler, default_handler, default_handler,
    default_handler, qemu_eth_irq,    default_handler, default_handler,
    default_handler, default_handler, default_handler, default_handler,
    default_handler, default_handler, default_handler, default_handler,
    default_handler, default_handler, default_handler, default_handler,
    default_handler, default_handler, default_handler, default_handler,
};

/* ---- what newlib needs ------------------------------------------------- */

void *_sbrk(ptrdiff_t incr);
void *_sbrk(ptrdiff_t incr)
{
    static uint8_t *brk = _heap_start;
    if (incr < 0 || (size_t)(_heap_end - brk) < (size_t)incr) {
        errno = ENOMEM;
        return (void *)-1;
    }
    uint8_t *old = brk;
    brk += incr;
    return old;
}

int _write(int fd, const char *buf, int len);
int _write(int fd, const char *buf, int len)
{
    (void)fd;
    qemu_uart0_write(buf, (size_t)len);
    return len;
}

int _read(int fd, char *buf, int len);
int _read(int fd, char *buf, int len) { (void)fd; (void)buf; (void)len; return 0; }
int _close(int fd);
int _close(int fd) { (void)fd; return -1; }
int _lseek(int fd, int off, int whence);
int _lseek(int fd, int off, int whence) { (void)fd; (void)off; (void)whence; return 0; }
int _fstat(int fd, struct stat *st);
int _fstat(int fd, struct stat *st) { (void)fd; st->st_mode = S_IFCHR; return 0; }
int _isatty(int fd);
int _isatty(int fd) { (void)fd; return 1; }
int _getpid(void);
int _getpid(void) { return 1; }
int _kill(int pid, int sig);
int _kill(int pid, int sig) { (void)pid; (void)sig; errno = EINVAL; return -1; }
void _exit(int code);
void _exit(int code) { qemu_exit(code); }
