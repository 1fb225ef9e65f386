/* lt_intern.c - see lt_intern.h. */
#include "record/lt_intern.h"

#include <string.h>

#include "base/lt_rawalloc.h"

#define CHUNK_SIZE (16 * 1024)

struct lt_chunk {
    lt_chunk *next;
    size_t size; /* of the whole block, header included */
    size_t used;
    char data[];
};

/* ---- the map ---- */

static inline size_t
map_home(uint64_t k1, uint64_t k2, size_t mask)
{
    uint64_t h = (k1 ^ (k2 * 0xC2B2AE3D27D4EB4Full)) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 31)) & mask;
}

static int
map_init(lt_map *map, size_t capacity)
{
    map->slots = lt_raw_malloc(capacity * sizeof(lt_map_slot));
    if (!map->slots) {
        return -1;
    }
    for (size_t i = 0; i < capacity; i++) {
        map->slots[i].value = LT_NO_ID;
    }
    map->mask = capacity - 1;
    map->count = 0;
    return 0;
}

static void
map_destroy(lt_map *map)
{
    lt_raw_free(map->slots, (map->mask + 1) * sizeof(lt_map_slot));
    map->slots = NULL;
}

/* Returns the slot holding (k1, k2), or the empty slot where it would go, and
 * leaves *start just past it, so that a caller whose keys are not unique
 * (string hashes) can reject a candidate and continue the probe. */
static lt_map_slot *
map_probe(lt_map *map, uint64_t k1, uint64_t k2, size_t *start)
{
    size_t i = *start;
    for (;;) {
        lt_map_slot *slot = &map->slots[i];
        i = (i + 1) & map->mask;
        if (slot->value == LT_NO_ID || (slot->k1 == k1 && slot->k2 == k2)) {
            *start = i;
            return slot;
        }
    }
}

static int
map_grow_if_needed(lt_map *map)
{
    if ((map->count + 1) * 2 <= map->mask + 1) {
        return 0;
    }
    lt_map bigger;
    size_t capacity = (map->mask + 1) * 2;
    if (map_init(&bigger, capacity) < 0) {
        return -1;
    }
    for (size_t i = 0; i <= map->mask; i++) {
        lt_map_slot *old = &map->slots[i];
        if (old->value != LT_NO_ID) {
            size_t j = map_home(old->k1, old->k2, bigger.mask);
            while (bigger.slots[j].value != LT_NO_ID) {
                j = (j + 1) & bigger.mask;
            }
            bigger.slots[j] = *old;
        }
    }
    bigger.count = map->count;
    map_destroy(map);
    *map = bigger;
    return 0;
}

/* ---- growable arrays ---- */

static int
grow_array(void **array, uint32_t *cap, uint32_t needed, size_t elsize)
{
    if (needed <= *cap) {
        return 0;
    }
    if (*cap >= LT_NO_ID / 2) {
        return -1;
    }
    uint32_t new_cap = *cap ? *cap * 2 : 256;
    void *bigger = lt_raw_malloc((size_t)new_cap * elsize);
    if (!bigger) {
        return -1;
    }
    if (*cap) {
        memcpy(bigger, *array, (size_t)*cap * elsize);
    }
    lt_raw_free(*array, (size_t)*cap * elsize);
    *array = bigger;
    *cap = new_cap;
    return 0;
}

/* ---- strings ---- */

static uint64_t
hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    }
    return h;
}

static char *
store_bytes(lt_intern *in, const char *s, size_t len)
{
    lt_chunk *chunk = in->chunks;
    if (!chunk || chunk->size - sizeof(lt_chunk) - chunk->used < len) {
        size_t size = sizeof(lt_chunk) + (len > CHUNK_SIZE ? len : CHUNK_SIZE);
        chunk = lt_raw_malloc(size);
        if (!chunk) {
            return NULL;
        }
        chunk->size = size;
        chunk->used = 0;
        chunk->next = in->chunks;
        in->chunks = chunk;
    }
    char *out = chunk->data + chunk->used;
    memcpy(out, s, len);
    chunk->used += len;
    return out;
}

uint32_t
lt_intern_string(lt_intern *in, const char *s, size_t len)
{
    if (len > UINT32_MAX / 2) {
        len = UINT32_MAX / 2;
    }
    uint64_t h = hash_bytes(s, len);
    size_t pos = map_home(h, len, in->string_map.mask);
    for (;;) {
        lt_map_slot *slot = map_probe(&in->string_map, h, len, &pos);
        if (slot->value == LT_NO_ID) {
            break;
        }
        const lt_string *known = &in->strings[slot->value];
        if (memcmp(known->ptr, s, len) == 0) {
            return slot->value;
        }
    }
    if (map_grow_if_needed(&in->string_map) < 0 ||
        grow_array((void **)&in->strings, &in->strings_cap, in->nstrings + 1, sizeof(lt_string)) <
            0) {
        return LT_NO_ID;
    }
    char *copy = store_bytes(in, s, len);
    if (!copy) {
        return LT_NO_ID;
    }
    uint32_t id = in->nstrings++;
    in->strings[id].ptr = copy;
    in->strings[id].len = (uint32_t)len;
    /* Probe again: growing may have moved the slots. */
    pos = map_home(h, len, in->string_map.mask);
    lt_map_slot *slot;
    do {
        slot = map_probe(&in->string_map, h, len, &pos);
    } while (slot->value != LT_NO_ID);
    slot->k1 = h;
    slot->k2 = len;
    slot->value = id;
    in->string_map.count++;
    return id;
}

/* ---- frames ---- */

uint32_t
lt_intern_find_frame(lt_intern *in, uintptr_t code, uintptr_t instr, uint64_t fingerprint)
{
    size_t pos = map_home(code, instr, in->frame_map.mask);
    lt_map_slot *slot = map_probe(&in->frame_map, code, instr, &pos);
    if (slot->value != LT_NO_ID && in->frames[slot->value].fingerprint == fingerprint) {
        return slot->value;
    }
    return LT_NO_ID;
}

static uint32_t
append_frame(lt_intern *in, uint64_t fingerprint, uint32_t function, uint32_t file, int32_t line)
{
    if (grow_array((void **)&in->frames, &in->frames_cap, in->nframes + 1, sizeof(lt_frame)) < 0) {
        return LT_NO_ID;
    }
    uint32_t id = in->nframes++;
    in->frames[id].function = function;
    in->frames[id].file = file;
    in->frames[id].line = line;
    in->frames[id].fingerprint = fingerprint;
    return id;
}

uint32_t
lt_intern_add_frame(lt_intern *in, uintptr_t code, uintptr_t instr, uint64_t fingerprint,
                    uint32_t function, uint32_t file, int32_t line)
{
    if (map_grow_if_needed(&in->frame_map) < 0) {
        return LT_NO_ID;
    }
    uint32_t id = append_frame(in, fingerprint, function, file, line);
    if (id == LT_NO_ID) {
        return LT_NO_ID;
    }
    size_t pos = map_home(code, instr, in->frame_map.mask);
    lt_map_slot *slot = map_probe(&in->frame_map, code, instr, &pos);
    if (slot->value == LT_NO_ID) {
        in->frame_map.count++;
    }
    slot->k1 = code;
    slot->k2 = instr;
    slot->value = id;
    return id;
}

/* ---- nodes ---- */

uint32_t
lt_intern_node(lt_intern *in, uint32_t parent, uint32_t frame)
{
    size_t pos = map_home(parent, frame, in->node_map.mask);
    lt_map_slot *slot = map_probe(&in->node_map, parent, frame, &pos);
    if (slot->value != LT_NO_ID) {
        return slot->value;
    }
    if (map_grow_if_needed(&in->node_map) < 0 ||
        grow_array((void **)&in->nodes, &in->nodes_cap, in->nnodes + 1, sizeof(lt_node)) < 0) {
        return LT_NO_ID;
    }
    uint32_t id = in->nnodes++;
    memset(&in->nodes[id], 0, sizeof(lt_node));
    in->nodes[id].parent = parent;
    in->nodes[id].frame = frame;
    pos = map_home(parent, frame, in->node_map.mask);
    slot = map_probe(&in->node_map, parent, frame, &pos);
    slot->k1 = parent;
    slot->k2 = frame;
    slot->value = id;
    in->node_map.count++;
    return id;
}

/* ---- lifetime ---- */

int
lt_intern_init(lt_intern *in)
{
    memset(in, 0, sizeof(*in));
    if (map_init(&in->string_map, 256) < 0 || map_init(&in->frame_map, 256) < 0 ||
        map_init(&in->node_map, 256) < 0) {
        goto error;
    }
    uint32_t marker = lt_intern_string(in, "<truncated>", 11);
    uint32_t empty = lt_intern_string(in, "", 0);
    if (marker == LT_NO_ID || empty == LT_NO_ID ||
        append_frame(in, 0, marker, empty, -1) != LT_TRUNCATED_FRAME ||
        grow_array((void **)&in->nodes, &in->nodes_cap, 1, sizeof(lt_node)) < 0) {
        goto error;
    }
    memset(&in->nodes[0], 0, sizeof(lt_node));
    in->nodes[0].parent = LT_ROOT_NODE;
    in->nodes[0].frame = LT_NO_ID;
    in->nnodes = 1;
    return 0;
error:
    lt_intern_destroy(in);
    return -1;
}

void
lt_intern_destroy(lt_intern *in)
{
    if (in->string_map.slots) {
        map_destroy(&in->string_map);
    }
    if (in->frame_map.slots) {
        map_destroy(&in->frame_map);
    }
    if (in->node_map.slots) {
        map_destroy(&in->node_map);
    }
    while (in->chunks) {
        lt_chunk *next = in->chunks->next;
        lt_raw_free(in->chunks, in->chunks->size);
        in->chunks = next;
    }
    lt_raw_free(in->strings, (size_t)in->strings_cap * sizeof(lt_string));
    lt_raw_free(in->frames, (size_t)in->frames_cap * sizeof(lt_frame));
    lt_raw_free(in->nodes, (size_t)in->nodes_cap * sizeof(lt_node));
    memset(in, 0, sizeof(*in));
}

size_t
lt_intern_memory(const lt_intern *in)
{
    size_t total = (in->string_map.mask + 1 + in->frame_map.mask + 1 + in->node_map.mask + 1) *
                   sizeof(lt_map_slot);
    total += (size_t)in->strings_cap * sizeof(lt_string);
    total += (size_t)in->frames_cap * sizeof(lt_frame);
    total += (size_t)in->nodes_cap * sizeof(lt_node);
    for (const lt_chunk *c = in->chunks; c; c = c->next) {
        total += c->size;
    }
    return total;
}
