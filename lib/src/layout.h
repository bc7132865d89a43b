/*
 * layout.h: the on-arena format. docs/format.md is the normative description;
 * change both together and bump SHARENA__FORMAT_VERSION.
 *
 * Everything here is read by other processes, possibly hostile ones, so every
 * offset, length and id taken from these structures is validated before use
 * (see arena.c). Integers are little-endian native (x86_64, aarch64); atomic
 * fields are accessed only with __atomic builtins.
 */
#ifndef SHARENA_LAYOUT_H
#define SHARENA_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define SHARENA__MAGIC "SHARENA\0"
/* 2: the NULL type (slot type 9) and nullable struct fields (a field flag
 * and a null bitmap after a struct's cells).
 * 3: maps are a dense entry array with a u32 hash index, keys of up to 16
 * bytes inline in the entry (issue 21).
 * 4: numbers, booleans, nulls and strings of up to 16 bytes are stored in
 * the map entry (40 bytes), numbers in the vector item, and become objects
 * only when an id is asked for (issue 21).
 * Arenas and images of an earlier version are refused (SHARENA_ELAYOUT):
 * move data with that release's `sharena dump --json` (docs/format.md). */
#define SHARENA__FORMAT_VERSION 4u

#define SHARENA__CACHELINE 64
#define SHARENA__ALIGN 16 /* every block and payload is 16-byte aligned */

/* ---- Header: offset 0, SHARENA__HDR_SIZE bytes --------------------------- */

#define SHARENA__HDR_SIZE 16384u
#define SHARENA__MAX_BROKER_SLOTS 65536u /* broker client slots 1..65535 */

/* Allocator (TLSF): first level = power of two, second level = 16 steps. */
#define SHARENA__SL_LOG2 4
#define SHARENA__SL_COUNT (1u << SHARENA__SL_LOG2)
#define SHARENA__FL_SHIFT (SHARENA__SL_LOG2 + 4) /* sizes < 256: fl 0 */
#define SHARENA__FL_COUNT 34                     /* blocks up to 2^41 */
#define SHARENA__MIN_BLOCK 32u                   /* header + 2 free links */

/* Handle table: chunk k holds SLOT_CHUNK0 << k slots, allocated on demand. */
#define SHARENA__SLOT_CHUNK0 256u
#define SHARENA__SLOT_CHUNKS 24u /* 256 * (2^24 - 1) slots, just under 2^32 */
#define SHARENA__SLOT_BITS 32
#define SHARENA__GEN_BITS 21
#define SHARENA__GEN_MAX ((1u << SHARENA__GEN_BITS) - 1)

struct sharena__header {
    /* identity: 0..63 */
    char magic[8];           /* "SHARENA\0" */
    uint32_t format_version; /* SHARENA__FORMAT_VERSION */
    uint32_t header_size;    /* SHARENA__HDR_SIZE */
    uint64_t layout_hash;    /* sharena_layout_hash() of the creator */
    uint64_t capacity;       /* total bytes (== memfd size) */
    uint64_t created_ns;     /* CLOCK_REALTIME */
    uint64_t hash_seed;      /* random per arena: map hashing */
    uint64_t heap_start;     /* first block (== SHARENA__HDR_SIZE) */
    uint64_t heap_end;       /* == capacity */
    /* 64..199 */
    char name[136]; /* NUL-terminated, 1..128 bytes */
    /* 200..255: counters */
    uint64_t roots_id;       /* the roots directory (a map) */
    uint64_t used_bytes;     /* bytes in allocated blocks (arena lock) */
    uint64_t live_objects;   /* live slots (arena lock) */
    uint32_t changes;        /* arena-wide change counter (futex word) */
    uint32_t change_waiters; /* waiters on `changes` */
    /* 232..247: random identity the broker gave the arena at creation (0:
     * none, an older broker's). Only brokers read it, and only as one of
     * the checks of a re-adoption (docs/protocol.md, ADOPT): a writer can
     * change it, so it is never proof alone. */
    uint64_t arena_id[2];
    uint64_t reserved0;
    /* 256..319: the arena lock guards the allocator and the handle table */
    uint32_t arena_lock; /* futex lock word, see lock.c */
    uint32_t arena_seq;
    uint64_t slot_count;     /* slots ever handed out (high-water mark) */
    uint64_t slot_free_head; /* FIFO of free slots; 0 = empty */
    uint64_t slot_free_tail;
    uint64_t fl_bitmap;        /* TLSF first-level bitmap */
    uint32_t arena_lock_since; /* lock_clock when arena_lock was taken */
    uint32_t reserved1a;
    uint64_t reserved1[2];
    /* 320..511 */
    uint64_t slot_chunks[SHARENA__SLOT_CHUNKS]; /* offsets of slot chunks */
    /* 512..647 */
    uint32_t sl_bitmap[SHARENA__FL_COUNT];
    /* 648..655 */
    uint64_t reserved2;
    /* 656..: free list heads, offsets of free blocks (0 = empty) */
    uint64_t free_heads[SHARENA__FL_COUNT][SHARENA__SL_COUNT];
    /* 5008..5119 */
    uint32_t slots_managed; /* 1 once a broker keeps live_slots */
    uint8_t reserved3[44];
    /* 5056..5119: read-mostly, its own cache line */
    uint32_t lock_clock;   /* CLOCK_MONOTONIC seconds + 1; 0 = never set */
    uint32_t layout_epoch; /* bumped when fsck --repair moves or drops
                             * handle-table chunks: cached chunks are stale */
    /* 5064: the save barrier (docs/locking.md): 0, or the lock owner value
     * of a process taking a snapshot; object writers wait while it is set.
     * Zero in arenas of earlier releases: no format change. */
    uint32_t write_barrier;
    uint8_t reserved4[52];
    /* 5120..13311: live broker client slots (bit per slot), kept by the
     * broker: a lock word naming a slot whose bit is clear is abandoned */
    uint64_t live_slots[SHARENA__MAX_BROKER_SLOTS / 64];
    /* the rest is reserved */
    uint8_t
        reserved_tail[SHARENA__HDR_SIZE - 5120 - SHARENA__MAX_BROKER_SLOTS / 8];
};

_Static_assert(sizeof(struct sharena__header) == SHARENA__HDR_SIZE, "hdr");
_Static_assert(offsetof(struct sharena__header, format_version) == 8, "hdr");
_Static_assert(offsetof(struct sharena__header, layout_hash) == 16, "hdr");
_Static_assert(offsetof(struct sharena__header, capacity) == 24, "hdr");
_Static_assert(offsetof(struct sharena__header, heap_start) == 48, "hdr");
_Static_assert(offsetof(struct sharena__header, name) == 64, "hdr");
_Static_assert(offsetof(struct sharena__header, roots_id) == 200, "hdr");
_Static_assert(offsetof(struct sharena__header, changes) == 224, "hdr");
_Static_assert(offsetof(struct sharena__header, arena_id) == 232, "hdr");
_Static_assert(offsetof(struct sharena__header, reserved0) == 248, "hdr");
_Static_assert(offsetof(struct sharena__header, arena_lock) == 256, "hdr");
_Static_assert(offsetof(struct sharena__header, slot_count) == 264, "hdr");
_Static_assert(offsetof(struct sharena__header, fl_bitmap) == 288, "hdr");
_Static_assert(offsetof(struct sharena__header, slot_chunks) == 320, "hdr");
_Static_assert(offsetof(struct sharena__header, sl_bitmap) == 512, "hdr");
_Static_assert(offsetof(struct sharena__header, free_heads) == 656, "hdr");
_Static_assert(offsetof(struct sharena__header, live_slots) == 5120, "hdr");
_Static_assert(offsetof(struct sharena__header, slots_managed) == 5008, "hdr");
_Static_assert(offsetof(struct sharena__header, arena_lock_since) == 296,
               "hdr");
_Static_assert(offsetof(struct sharena__header, lock_clock) == 5056, "hdr");
_Static_assert(offsetof(struct sharena__header, layout_epoch) == 5060, "hdr");
_Static_assert(offsetof(struct sharena__header, write_barrier) == 5064, "hdr");

/* ---- Handle table slot: 32 bytes -------------------------------------------
 * `word` is the object's block offset (payload) for heap types, the f64 bits
 * for NUMBER, 0/1 for BOOL, 0 for NULL, and the next free slot index for a
 * free slot. NUMBER, BOOL and NULL have no block.
 * `gen` is bumped when the object is dropped; ids carry the generation they
 * were issued with. `lock` and `seq` live here, not in the block, so that
 * objects can be reallocated while their id, lock and version stay put. */

struct sharena__slot {
    uint64_t word;
    uint32_t gen;
    uint32_t lock; /* futex lock word */
    uint32_t seq;  /* seqlock: odd while a writer mutates */
    uint8_t type;  /* sharena_type; 0 = free */
    uint8_t flags; /* SHARENA__SLOT_* */
    uint16_t reserved;
    uint32_t waiters; /* change waiters on `seq` (notifications) */
    uint32_t since;   /* header lock_clock when `lock` was last taken */
};
_Static_assert(sizeof(struct sharena__slot) == 32, "slot");
_Static_assert(offsetof(struct sharena__slot, gen) == 8, "slot");
_Static_assert(offsetof(struct sharena__slot, lock) == 12, "slot");
_Static_assert(offsetof(struct sharena__slot, seq) == 16, "slot");
_Static_assert(offsetof(struct sharena__slot, type) == 20, "slot");
_Static_assert(offsetof(struct sharena__slot, flags) == 21, "slot");
_Static_assert(offsetof(struct sharena__slot, waiters) == 24, "slot");
_Static_assert(offsetof(struct sharena__slot, since) == 28, "slot");

#define SHARENA__SLOT_RETIRED 0x01u /* generation exhausted: never reused */
#define SHARENA__SLOT_LISTED 0x02u  /* on the free FIFO */

/* ---- Lock word -------------------------------------------------------------
 * 0 = free. Otherwise owner | flags. Owner is a broker client slot
 * (1..65535, SHARENA__MAX_BROKER_SLOTS) or, for a process without a
 * broker, LOCAL | pid. */
#define SHARENA__LOCK_OWNER_MASK 0x3fffffffu
#define SHARENA__LOCK_LOCAL 0x20000000u
#define SHARENA__LOCK_WAITERS 0x40000000u
#define SHARENA__LOCK_DIED 0x80000000u

/* ---- Allocator block header: 16 bytes before every payload ----------------
 * size_flags: bit 0 FREE; bits 4..43 the block size in bytes (header
 * included, multiple of 16, >= 32); bits 44..63 the low 20 bits of the tag.
 * prev_phys: bits 4..43 the offset of the physically previous block (0 for
 * the first); bits 44..55 the high 12 bits of the tag.
 * The tag of an allocated block is the index of the slot whose object owns
 * it (0: the handle table itself), so blocks a writer allocated for an object
 * and died before linking can be found and freed by whoever repairs it.
 * Free blocks keep next/prev free-list offsets in the first 16 payload
 * bytes. Blocks tile [heap_start, heap_end) exactly. */
struct sharena__block {
    uint64_t size_flags;
    uint64_t prev_phys;
};
_Static_assert(sizeof(struct sharena__block) == 16, "block");
struct sharena__free_links {
    uint64_t next;
    uint64_t prev;
};
#define SHARENA__BLOCK_FREE 1u
#define SHARENA__BLOCK_SIZE_MASK UINT64_C(0x00000ffffffffff0)
#define SHARENA__BLOCK_OFF_MASK UINT64_C(0x00000ffffffffff0)
#define SHARENA__BLOCK_TAG_SHIFT 44
#define SHARENA__BLOCK_TAG_LO_BITS 20

/* ---- Object payloads (offset = slot.word) --------------------------------- */

/* STRING: length then bytes, NUL-terminated for convenience. */
struct sharena__string {
    uint64_t len;
    char data[];
};
_Static_assert(sizeof(struct sharena__string) == 8, "string");

/* BYTES: fixed size, data 16-byte aligned. */
struct sharena__bytes {
    uint64_t size;
    uint64_t reserved;
    uint8_t data[];
};
_Static_assert(sizeof(struct sharena__bytes) == 16, "bytes");

/* Container entries hold an id and, in bit 63, OWNED. */
#define SHARENA__REF_OWNED (UINT64_C(1) << 63)
#define SHARENA__REF_ID_MASK ((UINT64_C(1) << 53) - 1)

/* MAP (format 4): a dense array of entries in insertion order (a removal
 * moves the last entry into the hole), and a hash index over it, in one
 * block: the header, then `2 * cap` u32 index slots, then `cap` entries.
 * An index slot is 0 (empty) or an entry number + 1; the index uses linear
 * probing from `hash & (2 * cap - 1)` with backward-shift deletion, so its
 * load is at most 1/2. The index holds nothing the entries do not: repair
 * rebuilds it from entries[0..count). A removal in progress is recorded in
 * `pend_count`/`pend_hole` first, and a change of an entry's value that is
 * more than one 8-byte store in `pend_set`/`pend_entry`, so repair can
 * finish either (docs/locking.md); `moves` counts removals, so an
 * iteration can tell whether entries moved under its cursor
 * (sharena_map_moves). Growth keeps entry positions.
 * A key of up to SHARENA__KEY_INLINE_MAX bytes is stored in the entry; a
 * longer one in a block (struct sharena__key) whose offset the entry holds.
 * A value is a ref (V_REF), or a number, boolean, null or string of up to
 * SHARENA__VALUE_INLINE_MAX bytes stored in the entry itself, with no id;
 * it becomes an object (V_REF, owned) when something asks for its id. */
#define SHARENA__KEY_INLINE_MAX 16u
#define SHARENA__KEY_BLOCK 255u /* klen: the key is in a block, key.off */
#define SHARENA__VALUE_INLINE_MAX 16u
#define SHARENA__V_REF 0u    /* value.w[0] = id | SHARENA__REF_OWNED */
#define SHARENA__V_NUMBER 1u /* value.w[0] = the f64 bits */
#define SHARENA__V_BOOL 2u   /* value.w[0] = 0 or 1 (else corrupt) */
#define SHARENA__V_NULL 3u   /* value unused */
#define SHARENA__V_STRING 4u /* vlen UTF-8 bytes in value.inl, then zeros */
#define SHARENA__V_COUNT 5u  /* other kinds are corrupt */
struct sharena__map_entry {
    uint32_t hash; /* low 32 bits of sharena__hash() of the key */
    uint8_t klen;  /* 0..SHARENA__KEY_INLINE_MAX, or SHARENA__KEY_BLOCK */
    uint8_t vkind; /* SHARENA__V_* */
    uint8_t vlen;  /* V_STRING: 0..SHARENA__VALUE_INLINE_MAX; else 0 */
    uint8_t reserved;
    union {
        uint8_t inl[SHARENA__KEY_INLINE_MAX]; /* klen bytes, then zeros */
        uint64_t off;  /* KEY_BLOCK: payload offset of a sharena__key */
        uint64_t w[2]; /* the field as two words (how writers store it) */
    } key;
    union {
        uint8_t inl[SHARENA__VALUE_INLINE_MAX]; /* V_STRING */
        uint64_t w[2];                          /* how it is stored */
    } value;
};
_Static_assert(sizeof(struct sharena__map_entry) == 40, "map entry");
_Static_assert(offsetof(struct sharena__map_entry, klen) == 4, "map entry");
_Static_assert(offsetof(struct sharena__map_entry, vkind) == 5, "map entry");
_Static_assert(offsetof(struct sharena__map_entry, vlen) == 6, "map entry");
_Static_assert(offsetof(struct sharena__map_entry, key) == 8, "map entry");
_Static_assert(offsetof(struct sharena__map_entry, value) == 24, "map entry");
struct sharena__map {
    uint64_t count;      /* entries in use: entries[0..count), <= cap */
    uint64_t cap;        /* a power of two, MIN_CAP..MAX_CAP */
    uint64_t pend_count; /* 0, or the count before a removal in progress */
    uint64_t pend_hole;  /* the entry that removal empties (< pend_count) */
    uint64_t moves;      /* removals so far: each moves an entry */
    uint64_t pend_set;   /* 0, or entry + 1 whose value is being replaced */
    struct sharena__map_entry pend_entry; /* ... by this entry's value */
    uint64_t reserved;
    uint32_t index[]; /* 2 * cap slots, then the entries */
};
_Static_assert(sizeof(struct sharena__map) == 96, "map");
_Static_assert(offsetof(struct sharena__map, moves) == 32, "map");
_Static_assert(offsetof(struct sharena__map, pend_set) == 40, "map");
_Static_assert(offsetof(struct sharena__map, pend_entry) == 48, "map");
struct sharena__key {
    uint64_t len;
    char data[];
};
_Static_assert(sizeof(struct sharena__key) == 8, "key");
#define SHARENA__MAP_MIN_CAP 8u
#define SHARENA__MAP_MAX_CAP (UINT64_C(1) << 30)
/* Offset of the entries from the table's payload, and the payload size. */
#define SHARENA__MAP_ENTRIES(cap)                                              \
    (sizeof(struct sharena__map) + (uint64_t)(cap)*8)
#define SHARENA__MAP_BYTES(cap)                                                \
    (SHARENA__MAP_ENTRIES(cap) +                                               \
     (uint64_t)(cap) * sizeof(struct sharena__map_entry))

/* VECTOR: len <= cap. An item is a ref (id | SHARENA__REF_OWNED when the
 * vector owns it) or a number stored in place as its f64 bits: it is a ref
 * when bits 53..62 are clear and its id bits (0..52) are not all zero, and
 * a number otherwise. A number whose bits would read as a ref (one whose
 * magnitude is below 2^-1021, other than +-0) is stored as a number object
 * instead. A stored number has no id; it becomes an object (a ref) when
 * something asks for its id. */
#define SHARENA__ITEM_TAG_MASK UINT64_C(0x7fe0000000000000)
static inline int sharena__item_is_ref(uint64_t item)
{
    return !(item & SHARENA__ITEM_TAG_MASK) && (item & SHARENA__REF_ID_MASK);
}
struct sharena__vector {
    uint64_t len;
    uint64_t cap;
    uint64_t items[];
};
_Static_assert(sizeof(struct sharena__vector) == 16, "vector");

/* SHAPE: field descriptors, 72 bytes each. */
struct sharena__field {
    uint8_t type;     /* STRING, NUMBER, BOOL, BYTES */
    uint8_t name_len; /* 1..55 */
    uint8_t flags;    /* SHARENA__FIELD_*; other bits set: corrupt */
    uint8_t reserved;
    uint32_t reserved2;
    uint64_t size; /* BYTES: buffer size */
    char name[56]; /* name_len bytes, NUL-padded */
};
_Static_assert(sizeof(struct sharena__field) == 72, "field");
_Static_assert(offsetof(struct sharena__field, flags) == 2, "field");
_Static_assert(offsetof(struct sharena__field, size) == 8, "field");
_Static_assert(offsetof(struct sharena__field, name) == 16, "field");
/* The field may hold null (STRING, NUMBER, BOOL fields only). */
#define SHARENA__FIELD_NULLABLE 0x01u
#define SHARENA__FIELD_FLAGS_KNOWN SHARENA__FIELD_NULLABLE
struct sharena__shape {
    uint64_t nfields;
    uint64_t reserved;
    struct sharena__field fields[];
};
_Static_assert(sizeof(struct sharena__shape) == 16, "shape");

/* STRUCT: the shape id, then one 8-byte cell per field: f64 bits (NUMBER),
 * 0/1 (BOOL), or the id of an owned STRING/BYTES object; then the null
 * bitmap, SHARENA__STRUCT_NULL_WORDS(nfields) words: bit i of word i/64 set
 * = field i holds null (its cell keeps its last value, unused). A bit set
 * for a field that is not nullable, or past nfields, is corrupt. */
struct sharena__struct {
    uint64_t shape;
    uint64_t nfields; /* copy of the shape's, checked on every access */
    uint64_t cells[];
};
_Static_assert(sizeof(struct sharena__struct) == 16, "struct");
#define SHARENA__STRUCT_NULL_WORDS(n) (((uint64_t)(n) + 63) / 64)
/* Payload bytes of a struct of @p n fields: header, cells, null bitmap. */
#define SHARENA__STRUCT_SIZE(n)                                                \
    (sizeof(struct sharena__struct) + (uint64_t)(n)*8 +                        \
     SHARENA__STRUCT_NULL_WORDS(n) * 8)

#endif /* SHARENA_LAYOUT_H */
