/* Differential test of riscv_fp_exec against Debian's qemu-riscv64.
 *
 * Usage: test_fpu_qemu QEMU_RISCV64 FPU_ORACLE_RV [ORACLE ARGS...]
 * Runs the riscv64 oracle program (fpu_oracle_rv.c) under qemu-user, replays
 * every "insn frm a b c result fflags kind" line through riscv_fp_exec with
 * the same register assignment (f0..f2 operands, x10 integer operand, f3 or
 * x10 result) and fails on any difference in result bits or fflags; "L"
 * lines (every OP-FP/FMA encoding) must agree on legal vs illegal. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/riscv.h"

int main(int argc, char **argv)
{
    char cmd[4096], line[512];
    unsigned long count = 0, probes = 0, bad = 0;
    RiscvCpu *cpu;
    FILE *p;
    int st;

    if (argc < 3) {
        fprintf(stderr, "usage: %s QEMU_RISCV64 ORACLE\n", argv[0]);
        return 2;
    }
    /* arguments come from meson or a developer, never from the guest */
    size_t len = 0;
    for (int i = 1; i < argc; i++) {
        int n = snprintf(cmd + len, sizeof(cmd) - len, "%s'%s'", i > 1 ? " " : "", argv[i]);
        if (n < 0 || (size_t)n >= sizeof(cmd) - len || strchr(argv[i], '\''))
            return 2;
        len += (size_t)n;
    }
    cpu = calloc(1, sizeof(*cpu));
    if (!cpu)
        return 2;
    p = popen(cmd, "r");
    if (!p) {
        perror("popen");
        return 2;
    }
    while (fgets(line, sizeof(line), p)) {
        unsigned insn, fl;
        uint64_t frm, a, b, c, res, got;
        char kind;

        if (line[0] == 'L') {
            /* decoder probe: does quail agree on legality? */
            unsigned long pfrm;
            int legal;
            if (sscanf(line, "L %x %lx %d", &insn, &pfrm, &legal) != 3) {
                fprintf(stderr, "unparsable oracle line: %s", line);
                bad++;
                continue;
            }
            probes++;
            memset(cpu->f, 0, sizeof(cpu->f));
            cpu->frm = (uint32_t)pfrm;
            cpu->fflags = 0;
            cpu->mstatus = (uint64_t)FS_INITIAL << 13;
            cpu->exc_pending = false;
            int rc = riscv_fp_exec(cpu, insn);
            bool ill = cpu->exc_pending && cpu->exc_cause == EXC_ILLEGAL_INSN;
            if (ill != !legal || (rc != 0) != ill) {
                if (bad++ < 40)
                    fprintf(stderr, "DECODE MISMATCH insn %08x frm %lu: qemu %s, quail %s\n",
                            insn, pfrm, legal ? "legal" : "illegal",
                            ill ? "illegal" : "legal");
            }
            continue;
        }
        if (sscanf(line, "%x %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64
                   " %x %c", &insn, &frm, &a, &b, &c, &res, &fl, &kind) != 8) {
            fprintf(stderr, "unparsable oracle line: %s", line);
            bad++;
            continue;
        }
        /* Each case runs twice: with fflags clear, and with NX already
         * accrued, which enables the host fast path for RNE arithmetic. */
        for (int pass = 0; pass < 2; pass++) {
            uint32_t pre = pass ? FFLAG_NX : 0;
            count++;
            memset(cpu->f, 0, sizeof(cpu->f));
            memset(cpu->x, 0, sizeof(cpu->x));
            cpu->f[0] = a;
            cpu->f[1] = b;
            cpu->f[2] = c;
            cpu->x[10] = a;
            cpu->frm = (uint32_t)frm;
            cpu->fflags = pre;
            cpu->mstatus = (uint64_t)FS_INITIAL << 13;
            cpu->exc_pending = false;
            if (riscv_fp_exec(cpu, insn) != 0 || cpu->exc_pending) {
                if (bad++ < 40)
                    fprintf(stderr, "insn %08x raised exception %" PRIu64 "\n", insn,
                            cpu->exc_cause);
                continue;
            }
            got = kind == 'f' ? cpu->f[3] : cpu->x[10];
            if (got != res || cpu->fflags != (fl | pre)) {
                if (bad++ < 40)
                    fprintf(stderr, "MISMATCH insn %08x frm %" PRIu64 " a %016" PRIx64
                            " b %016" PRIx64 " c %016" PRIx64 " preset %02x: qemu %016" PRIx64
                            " fflags %02x, quail %016" PRIx64 " fflags %02x\n", insn, frm,
                            a, b, c, pre, res, fl | pre, got, cpu->fflags);
            }
        }
    }
    st = pclose(p);
    free(cpu);
    printf("%lu cases compared, %lu encodings probed, %lu mismatches\n", count, probes, bad);
    if (st != 0) {
        fprintf(stderr, "oracle exited with status %d\n", st);
        return 1;
    }
    /* The table holds ~400k cases (run twice); far fewer means the oracle broke. */
    if (count < 200000 || probes < 65536)
        return 1;
    return bad ? 1 : 0;
}
