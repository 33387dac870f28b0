#include "hw/pci/shpc.h"

#include <errno.h>
#include <string.h>

#include "util/error.h"
#include "util/log.h"

/* Working register set (SHPC 1.0 chapter 4) */
#define R_BASE_OFFSET 0x00
#define R_SLOTS_AVAIL1 0x04
#define R_SLOTS_AVAIL2 0x08
#define R_SLOT_CONFIG 0x0c
#define R_SEC_BUS 0x10
#define R_PROG_IFC 0x13
#define R_CMD 0x14
#define R_CMD_STATUS 0x16
#define R_INTR_LOC 0x18
#define R_SERR_LOC 0x1c
#define R_SERR_INTR 0x20
#define R_SLOT(i) (0x24 + 4 * (i))

#define CMDST_BUSY 0x1
#define CMDST_MRL_OPEN 0x2
#define CMDST_INVALID_CMD 0x4
#define CMDST_INVALID_MODE 0x8

#define SI_GLOBAL_INT_MASK 0x1
#define SI_CMD_INT_MASK 0x4
#define SI_CMD_DETECTED 0x10000

/* slot register */
#define SLOT_STATE_MASK 0x3
#define ST_POWER_ONLY 1
#define ST_ENABLED 2
#define ST_DISABLED 3
#define PWR_LED_SHIFT 2
#define ATTN_LED_SHIFT 4
#define LED_ON 1
#define LED_OFF 3
#define PRSNT_SHIFT 10
#define PRSNT_EMPTY 3
#define PRSNT_7_5W 0
#define EV_PRESENCE (1u << 16)
#define EV_BUTTON (1u << 18)
#define EV_ALL (0x1fu << 16)
#define INT_MASKS (0x1fu << 24)
#define SERR_MASKS (0x3u << 29)

static uint32_t reg32(Shpc *s, uint32_t off) { return pci_get_long(s->regs + off); }
static void set32(Shpc *s, uint32_t off, uint32_t v) { pci_set_long(s->regs + off, v); }

static PciDevice *slot_dev(Shpc *s, int i)
{
    return s->bus->devs[PCI_DEVFN(i + 1, 0)];
}

static void update_irq(Shpc *s)
{
    uint32_t si = reg32(s, R_SERR_INTR), loc = 0;
    if ((si & SI_CMD_DETECTED) && !(si & SI_CMD_INT_MASK))
        loc |= 1;
    for (int i = 0; i < s->nslots; i++) {
        uint32_t r = reg32(s, R_SLOT(i));
        if ((r >> 16) & ~(r >> 24) & 0x1f)
            loc |= 1u << (i + 1);
    }
    set32(s, R_INTR_LOC, loc);
    bool level = loc && !(si & SI_GLOBAL_INT_MASK);
    s->bridge->config[s->cap + 3] = level;     /* "interrupt pending" */
    pci_set_irq(s->bridge, level);
}

static void slot_set(Shpc *s, int i, int state, int pwr, int attn, bool present)
{
    uint32_t r = reg32(s, R_SLOT(i)) & ~0xfffu;
    r |= (uint32_t)state | (uint32_t)pwr << PWR_LED_SHIFT | (uint32_t)attn << ATTN_LED_SHIFT;
    r |= (uint32_t)(present ? PRSNT_7_5W : PRSNT_EMPTY) << PRSNT_SHIFT;
    set32(s, R_SLOT(i), r);
}

int shpc_init(Shpc *s, PciDevice *bridge, PciBus *bus, int nslots)
{
    if (nslots < 1 || nslots > SHPC_MAX_SLOTS)
        return err_set(EINVAL, "SHPC: bad slot count %d", nslots);
    memset(s, 0, sizeof(*s));
    s->bridge = bridge;
    s->bus = bus;
    s->nslots = nslots;
    int cap = pci_add_capability(bridge, PCI_CAP_ID_SHPC, SHPC_CAP_LEN);
    if (cap < 0)
        return err_set(ENOSPC, "%s: no room for the SHPC capability", bridge->id);
    s->cap = cap;
    bridge->wmask[cap + 2] = 0xff;              /* DWORD select */
    pci_set_long(bridge->wmask + cap + 4, 0xffffffff);     /* DWORD data */

    set32(s, R_BASE_OFFSET, 0);
    set32(s, R_SLOTS_AVAIL1, (uint32_t)nslots);     /* all conventional 33 MHz */
    set32(s, R_SLOTS_AVAIL2, 0);
    /* first device 1, physical slot numbers counting up from 1, attention
     * button, no MRL sensor */
    set32(s, R_SLOT_CONFIG, (uint32_t)nslots | 1u << 8 | 1u << 16 | 1u << 29 | 1u << 31);
    s->regs[R_PROG_IFC] = 1;
    s->regs[R_CMD] = 0;
    s->wmask[R_CMD] = 0xff;
    s->wmask[R_CMD + 1] = 0xff;
    s->wmask[R_SERR_INTR] = 0x0f;
    s->w1cmask[R_SERR_INTR + 2] = 0x03;
    for (int i = 0; i < nslots; i++) {
        s->w1cmask[R_SLOT(i) + 2] = 0x1f;
        s->wmask[R_SLOT(i) + 3] = 0x7f;
    }
    shpc_reset(s);
    return 0;
}

void shpc_reset(Shpc *s)
{
    s->regs[R_SEC_BUS] = 0;     /* 33 MHz conventional */
    pci_set_word(s->regs + R_CMD, 0);
    pci_set_word(s->regs + R_CMD_STATUS, 0);
    set32(s, R_SERR_LOC, 0);
    set32(s, R_SERR_INTR, 0x0f);        /* everything masked */
    for (int i = 0; i < s->nslots; i++) {
        set32(s, R_SLOT(i), INT_MASKS | SERR_MASKS);
        bool present = slot_dev(s, i) != NULL;
        slot_set(s, i, present ? ST_ENABLED : ST_DISABLED, present ? LED_ON : LED_OFF, LED_OFF,
                 present);
    }
    update_irq(s);
}

static void eject_slot(Shpc *s, int i)
{
    for (int fn = 7; fn >= 0; fn--) {
        PciDevice *d = s->bus->devs[PCI_DEVFN(i + 1, fn)];
        if (d)
            pci_device_ejected(d);
    }
    uint32_t r = reg32(s, R_SLOT(i));
    set32(s, R_SLOT(i), r | EV_PRESENCE);
    slot_set(s, i, ST_DISABLED, LED_OFF, (int)(r >> ATTN_LED_SHIFT) & 3, false);
}

static uint16_t slot_command(Shpc *s, int i, uint8_t code)
{
    uint32_t r = reg32(s, R_SLOT(i));
    int state = (int)(r & SLOT_STATE_MASK), pwr = (int)(r >> PWR_LED_SHIFT) & 3,
        attn = (int)(r >> ATTN_LED_SHIFT) & 3;
    bool present = ((r >> PRSNT_SHIFT) & 3) != PRSNT_EMPTY;
    int new_state = code & 3, new_pwr = (code >> 2) & 3, new_attn = (code >> 4) & 3;
    if (new_state && new_state != ST_DISABLED && !present)
        return CMDST_INVALID_CMD;
    if (new_state)
        state = new_state;
    if (new_pwr)
        pwr = new_pwr;
    if (new_attn)
        attn = new_attn;
    slot_set(s, i, state, pwr, attn, present);
    /* Disabled with the power indicator off: the guest let go of the card,
     * so it leaves the slot, as when the operator opens the latch. */
    if (state == ST_DISABLED && pwr == LED_OFF && present)
        eject_slot(s, i);
    return 0;
}

static void run_command(Shpc *s)
{
    uint8_t code = s->regs[R_CMD], target = s->regs[R_CMD + 1];
    uint16_t st = 0;
    if (code < 0x40) {
        if (target < 1 || target > s->nslots)
            st = CMDST_INVALID_CMD;
        else
            st = slot_command(s, target - 1, code);
    } else if (code < 0x48) {
        if (code == 0x40)
            s->regs[R_SEC_BUS] = 0;
        else
            st = CMDST_INVALID_MODE;
    } else if (code == 0x48 || code == 0x49) {
        for (int i = 0; i < s->nslots; i++)
            if (slot_dev(s, i))
                slot_command(s, i, code == 0x48 ? ST_POWER_ONLY : ST_ENABLED);
    } else {
        st = CMDST_INVALID_CMD;
    }
    pci_set_word(s->regs + R_CMD_STATUS, st);
    set32(s, R_SERR_INTR, reg32(s, R_SERR_INTR) | SI_CMD_DETECTED);
}

uint64_t shpc_read(Shpc *s, uint32_t off, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size && i < 8; i++)
        if (off + i < SHPC_BAR_SIZE)
            v |= (uint64_t)s->regs[off + i] << (8 * i);
    return v;
}

void shpc_write(Shpc *s, uint32_t off, unsigned size, uint64_t val)
{
    bool cmd = false;
    for (unsigned i = 0; i < size && i < 8; i++) {
        uint32_t a = off + i;
        if (a >= SHPC_BAR_SIZE)
            break;
        uint8_t b = (uint8_t)(val >> (8 * i));
        s->regs[a] = (uint8_t)((s->regs[a] & ~s->wmask[a]) | (b & s->wmask[a]));
        s->regs[a] &= (uint8_t)~(b & s->w1cmask[a]);
        if (a == R_CMD)
            cmd = true;
    }
    if (cmd)
        run_command(s);
    update_irq(s);
}

/* The DWORD data window shows register dword <select>. */
uint32_t shpc_config_read(Shpc *s, uint32_t off, unsigned size, uint32_t val)
{
    uint32_t data = (uint32_t)s->cap + 4;
    if (off + size <= data || off >= data + 4)
        return val;
    uint32_t sel = s->bridge->config[s->cap + 2];
    uint32_t dw = sel < SHPC_BAR_SIZE / 4 ? reg32(s, sel * 4) : 0;
    for (unsigned i = 0; i < size; i++) {
        uint32_t a = off + i;
        if (a >= data && a < data + 4) {
            val &= ~(0xffu << (8 * i));
            val |= ((dw >> (8 * (a - data))) & 0xff) << (8 * i);
        }
    }
    return val;
}

void shpc_config_written(Shpc *s, uint32_t off, unsigned size, uint32_t val)
{
    uint32_t data = (uint32_t)s->cap + 4;
    uint32_t sel = s->bridge->config[s->cap + 2];
    for (unsigned i = 0; i < size; i++) {
        uint32_t a = off + i;
        if (a >= data && a < data + 4 && sel < SHPC_BAR_SIZE / 4)
            shpc_write(s, sel * 4 + (a - data), 1, (val >> (8 * i)) & 0xff);
    }
}

static int slot_of(Shpc *s, PciDevice *d)
{
    int slot = PCI_SLOT(d->devfn);
    if (slot < 1 || slot > s->nslots)
        return err_set(EINVAL, "Unsupported PCI slot %d for standard hotplug controller. "
                       "Valid slots are between 1 and %d.", slot, s->nslots);
    return slot - 1;
}

int shpc_plug(Shpc *s, PciDevice *d)
{
    int i = slot_of(s, d);
    if (i < 0)
        return i;
    uint32_t r = reg32(s, R_SLOT(i));
    /* The card is in and the operator pushes the button: the guest powers
     * the slot up and scans it. */
    set32(s, R_SLOT(i), r | EV_PRESENCE | EV_BUTTON);
    slot_set(s, i, (int)(r & SLOT_STATE_MASK), (int)(r >> PWR_LED_SHIFT) & 3,
             (int)(r >> ATTN_LED_SHIFT) & 3, true);
    update_irq(s);
    return 0;
}

int shpc_unplug_request(Shpc *s, PciDevice *d)
{
    int i = slot_of(s, d);
    if (i < 0)
        return i;
    set32(s, R_SLOT(i), reg32(s, R_SLOT(i)) | EV_BUTTON);
    update_irq(s);
    return 0;
}
