/* trapcheck: provokes synchronous exceptions from user mode and checks that
 * each one arrives as the right signal with the right si_code and si_addr:
 *   illegal instruction  -> SIGILL  ILL_ILLOPC  at the instruction
 *   ebreak               -> SIGTRAP TRAP_BRKPT  at the instruction
 *   load from a munmap'd page   -> SIGSEGV SEGV_MAPERR at that address
 *   load via a wild pointer     -> SIGSEGV SEGV_MAPERR at that address
 *   store to a read-only page   -> SIGSEGV SEGV_ACCERR at that address
 * This proves the emulator's trap delivery (scause/stval/sepc) reaches Linux
 * and that execution resumes correctly after a signal. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
#include "guest.h"

static sigjmp_buf env;
static volatile siginfo_t last;
static volatile int last_sig;

static void handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    last_sig = sig;
    last = *si;
    siglongjmp(env, 1);
}

extern char trap_ill[], trap_ebreak[];

static void do_illegal(void)
{
    /* 0x00000000 is defined to be illegal in every RISC-V encoding. */
    __asm__ volatile(".option push\n.option norvc\n"
                     ".globl trap_ill\ntrap_ill: .4byte 0\n"
                     ".option pop\n" ::: "memory");
}

static void do_ebreak(void)
{
    __asm__ volatile(".option push\n.option norvc\n"
                     ".globl trap_ebreak\ntrap_ebreak: ebreak\n"
                     ".option pop\n" ::: "memory");
}

static int failures;

static void expect(const char *what, void (*fn)(void *), void *arg, int sig, int code, void *addr)
{
    last_sig = 0;
    if (sigsetjmp(env, 1) == 0) {
        fn(arg);
        printf("trapcheck: %s: no signal\n", what);
        failures++;
        return;
    }
    int ok = last_sig == sig && last.si_code == code && last.si_addr == addr;
    printf("trapcheck: %s: sig=%d code=%d addr=%p (want sig=%d code=%d addr=%p) %s\n", what,
           last_sig, last.si_code, last.si_addr, sig, code, addr, ok ? "ok" : "WRONG");
    if (!ok)
        failures++;
}

static void call_void(void *fn) { ((void (*)(void))fn)(); }
static void load_from(void *p) { (void)*(volatile long *)p; }
static void store_to(void *p) { *(volatile long *)p = 42; }

int main(void)
{
    struct sigaction sa = { 0 };
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGTRAP, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);

    long pg = sysconf(_SC_PAGESIZE);
    expect("illegal instruction", call_void, (void *)do_illegal, SIGILL, ILL_ILLOPC, trap_ill);
    expect("ebreak", call_void, (void *)do_ebreak, SIGTRAP, TRAP_BRKPT, trap_ebreak);

    char *p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        fail("mmap");
    p[0] = 1;
    if (munmap(p, (size_t)pg) < 0)
        fail("munmap");
    expect("load from unmapped page", load_from, p + 8, SIGSEGV, SEGV_MAPERR, p + 8);

    void *wild = (void *)(uintptr_t)0x10;
    expect("load via wild pointer", load_from, wild, SIGSEGV, SEGV_MAPERR, wild);

    char *ro = mmap(NULL, (size_t)pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ro == MAP_FAILED)
        fail("mmap");
    expect("store to read-only page", store_to, ro + 16, SIGSEGV, SEGV_ACCERR, ro + 16);
    if (ro[16] != 0)
        fail("store to read-only page took effect");

    /* Execution continues normally after all those signals. */
    volatile double x = 1.5;
    for (int i = 0; i < 10; i++)
        x = x * 2.0 + 0.25;
    if (x != 1.5 * 1024 + 0.25 * 1023)
        fail("FP arithmetic after traps gave %f", x);
    printf("trapcheck: %d failure(s)\n", failures);
    return failures != 0;
}
