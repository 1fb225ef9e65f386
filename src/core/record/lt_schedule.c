/* lt_schedule.c - see lt_schedule.h. */
#include "record/lt_schedule.h"

lt_schedule_config
lt_schedule_default(void)
{
    return (lt_schedule_config){LT_SCHEDULE_PERIOD_NS, LT_SCHEDULE_SLICE_BYTES,
                                LT_SCHEDULE_DOUBLE_EVERY};
}

lt_schedule_config
lt_schedule_fixed(uint64_t period_ns)
{
    return (lt_schedule_config){period_ns ? period_ns : 1, 0, 0};
}

void
lt_schedule_init(lt_schedule *s, const lt_schedule_config *config, uint64_t now_ns,
                 uint64_t allocated)
{
    s->config = *config;
    s->period_ns = config->period_ns ? config->period_ns : 1;
    s->slice_bytes = config->slice_bytes;
    s->deadline_ns = now_ns + s->period_ns;
    s->earliest_ns = now_ns;
    s->next_bytes = allocated + s->slice_bytes;
    s->taken = 0;
}

uint64_t
lt_schedule_wait_ns(const lt_schedule *s, uint64_t now_ns)
{
    uint64_t until = s->deadline_ns > now_ns ? s->deadline_ns - now_ns : 0;
    uint64_t not_before = s->earliest_ns > now_ns ? s->earliest_ns - now_ns : 0;
    if (!s->slice_bytes || not_before >= until) {
        return until > not_before ? until : not_before;
    }
    uint64_t poll = s->period_ns / 4, least = LT_SCHEDULE_MIN_POLL_NS;
    if (s->config.double_every && s->taken < LT_SCHEDULE_FAST_POLLS) {
        poll = least = LT_SCHEDULE_FAST_POLL_NS;
    }
    poll = poll > least ? poll : least;
    poll = poll > not_before ? poll : not_before;
    return until < poll ? until : poll;
}

int
lt_schedule_due(const lt_schedule *s, uint64_t now_ns, uint64_t allocated)
{
    if (now_ns < s->earliest_ns) {
        return 0;
    }
    return now_ns >= s->deadline_ns || (s->slice_bytes && allocated >= s->next_bytes);
}

void
lt_schedule_taken(lt_schedule *s, uint64_t now_ns, uint64_t cost_ns, uint64_t allocated)
{
    s->taken++;
    uint32_t every = s->config.double_every;
    if (every && s->taken >= 2ull * every && s->taken % every == 0) {
        s->period_ns = s->period_ns > UINT64_MAX / 2 ? s->period_ns : s->period_ns * 2;
        s->slice_bytes = s->slice_bytes > UINT64_MAX / 2 ? s->slice_bytes : s->slice_bytes * 2;
    }
    /* A fixed period keeps its cadence; the default one counts from now,
     * as a slice of work may have come first. */
    uint64_t deadline = every ? now_ns + s->period_ns : s->deadline_ns + s->period_ns;
    s->deadline_ns = deadline > now_ns ? deadline : now_ns + s->period_ns;
    uint64_t gap = cost_ns < UINT64_MAX / LT_SCHEDULE_COST_FACTOR
                       ? cost_ns * LT_SCHEDULE_COST_FACTOR
                       : UINT64_MAX - now_ns;
    s->earliest_ns = now_ns + gap;
    s->next_bytes = allocated + s->slice_bytes;
}
