/* F and D extensions.  Placeholder until the soft-float core lands. */
#include "cpu/riscv.h"

int riscv_fp_exec(RiscvCpu *cpu, uint32_t insn)
{
    riscv_raise_exception(cpu, EXC_ILLEGAL_INSN, insn);
    return -1;
}
