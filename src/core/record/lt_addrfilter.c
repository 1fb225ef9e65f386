/* lt_addrfilter.c - see lt_addrfilter.h. */
#include "record/lt_addrfilter.h"

uint8_t lt_addrfilter_counts[1u << LT_ADDRFILTER_BITS];

void
lt_addrfilter_clear(void)
{
    for (uint32_t i = 0; i < (1u << LT_ADDRFILTER_BITS); i++) {
        __atomic_store_n(&lt_addrfilter_counts[i], 0, __ATOMIC_RELAXED);
    }
}
