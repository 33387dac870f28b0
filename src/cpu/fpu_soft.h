/* IEEE 754 binary32/binary64 arithmetic with RISC-V semantics, in software.
 *
 * Pure functions on raw encodings (binary32 values in the low 32 bits, already
 * unboxed): no CPU state and, except for the sf_host_* fast paths, no host
 * floating point, so the results are the same on every host and thread.  Each operation ORs the
 * exceptions it raises (FFLAG_* from riscv.h) into *fl.  Every NaN result is
 * the canonical NaN, as RISC-V requires.
 */
#ifndef QUAIL_CPU_FPU_SOFT_H
#define QUAIL_CPU_FPU_SOFT_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { SF_F32 = 0, SF_F64 = 1 } SfFmt;

/* Rounding modes, numbered as in the RISC-V rm field. */
enum { SF_RNE = 0, SF_RTZ = 1, SF_RDN = 2, SF_RUP = 3, SF_RMM = 4 };

#define SF_CANON_NAN32 0x7fc00000ULL
#define SF_CANON_NAN64 0x7ff8000000000000ULL

uint64_t sf_add(SfFmt f, uint64_t a, uint64_t b, int rm, uint32_t *fl);
uint64_t sf_sub(SfFmt f, uint64_t a, uint64_t b, int rm, uint32_t *fl);
uint64_t sf_mul(SfFmt f, uint64_t a, uint64_t b, int rm, uint32_t *fl);
uint64_t sf_div(SfFmt f, uint64_t a, uint64_t b, int rm, uint32_t *fl);
uint64_t sf_sqrt(SfFmt f, uint64_t a, int rm, uint32_t *fl);
/* (neg_prod ? -(a*b) : a*b) + (neg_c ? -c : c) with a single rounding. */
uint64_t sf_fma(SfFmt f, uint64_t a, uint64_t b, uint64_t c, bool neg_prod, bool neg_c,
                int rm, uint32_t *fl);

/* IEEE 754-2019 minimumNumber/maximumNumber: -0 < +0, one NaN operand yields
 * the other operand, signalling NaN inputs raise NV. */
uint64_t sf_min(SfFmt f, uint64_t a, uint64_t b, uint32_t *fl);
uint64_t sf_max(SfFmt f, uint64_t a, uint64_t b, uint32_t *fl);

/* FEQ is quiet (NV only for sNaN); FLT/FLE are signalling (NV for any NaN). */
bool sf_eq(SfFmt f, uint64_t a, uint64_t b, uint32_t *fl);
bool sf_lt(SfFmt f, uint64_t a, uint64_t b, uint32_t *fl);
bool sf_le(SfFmt f, uint64_t a, uint64_t b, uint32_t *fl);

/* FCLASS mask: bit 0 -inf ... bit 7 +inf, bit 8 sNaN, bit 9 qNaN. */
unsigned sf_class(SfFmt f, uint64_t a);

/* Format conversion (FCVT.S.D, FCVT.D.S). */
uint64_t sf_cvt(SfFmt to, SfFmt from, uint64_t a, int rm, uint32_t *fl);

/* Float to integer of width 32 or 64 with RISC-V saturation (NaN and +inf give
 * the maximum, -inf the minimum, out of range clamps; all raise NV).  The
 * result is sign-extended to 64 bits as RV64 writes it to rd, also for
 * unsigned 32-bit results. */
uint64_t sf_to_int(SfFmt f, uint64_t a, bool is_signed, int width, int rm, uint32_t *fl);
/* Integer (low `width` bits of v, signed or unsigned) to float. */
uint64_t sf_from_int(SfFmt f, uint64_t v, bool is_signed, int width, int rm, uint32_t *fl);

/* Fast path through the host FPU for round-to-nearest-even when NX is
 * already accrued, so the only flag such an operation can raise needs no
 * detection.  Returns false (caller uses the sf_ function) unless the
 * operands are normal numbers and the host result is a normal number above
 * the smallest normal, where no other flag is possible and the host's IEEE
 * result is the RISC-V one. */
enum { SF_OP_ADD, SF_OP_SUB, SF_OP_MUL, SF_OP_DIV, SF_OP_SQRT };
bool sf_host_rne(SfFmt f, int op, uint64_t a, uint64_t b, uint64_t *res);
/* The same for a*b + c (the caller flips sign bits for the negated forms). */
bool sf_host_fma_rne(SfFmt f, uint64_t a, uint64_t b, uint64_t c, uint64_t *res);

#endif
