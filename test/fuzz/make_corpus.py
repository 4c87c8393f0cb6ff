#!/usr/bin/env python3
"""Write the seed corpus of the fuzz harnesses (test/fuzz/corpus/<name>/).
Run from anywhere: python3 test/fuzz/make_corpus.py. The layouts follow
stack/proto.h and the input formats documented in each fuzz_<name>.c."""
import os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
MAGIC, VER = 0x58494F50, 2

def hdr(t, ln, ver=VER, magic=MAGIC, status=0):
    return struct.pack("<IHHIi", magic, ver, t, ln, status)

def offer(gen=0x1122334455667788, slot=3, token=0xabcdef, layout=1):
    ep = bytes(10) + b"\xff\xff" + bytes([127, 0, 0, 1]) + struct.pack("<HH", 5201, 2)
    body = struct.pack("<QIIIi", gen, slot, token, layout, 1234) + ep + ep
    return hdr(100, 16 + len(body)) + body

def write(name, files):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    for fn, data in files.items():
        with open(os.path.join(d, fn), "wb") as f:
            f.write(data)

write("proto", {
    "hello": hdr(1, 16),
    "publish": hdr(2, 24) + struct.pack("<iI", 42, 0),
    "kill": hdr(7, 20) + struct.pack("<I", 1),
    "offer": offer(),
    "offer-layout2": offer(layout=2),
    "offer-slot-range": offer(slot=0xffffffff) + b"\x07",
    "badmagic": hdr(4, 16, magic=0x12345678),
    "badversion": hdr(4, 16, ver=9),
    "short": hdr(4, 16)[:9],
    "len-lies": hdr(4, 4000),
})

def rec(payload):
    pad = (-len(payload)) % 4
    return struct.pack("<I", len(payload)) + payload + bytes(pad)

def desc(ln, idx, gen, off):  # a descriptor (zero-copy) record: length, buffer, generation, offset
    return struct.pack("<IIII", 0x80000000 | ln, idx, gen, off)

def ring_in(head, count, rd_off, ln, flags, elems):
    return struct.pack("<IIIIB", head, count, rd_off, ln, flags) + bytes(3) + elems

r1 = rec(b"hello") + rec(b"x") + rec(bytes(range(40)))
write("ring", {
    "three-records": ring_in(0, len(r1) // 4, 0, 100, 0, r1),
    "peek-partial": ring_in(60, len(r1) // 4, 2, 3, 1, r1),
    "wrapped": ring_in(0xfffffffe, len(r1) // 4, 0, 1000, 0, r1),
    "len-zero": ring_in(0, 4, 0, 100, 0, struct.pack("<I", 0) + bytes(12)),
    "len-huge": ring_in(0, 4, 0, 100, 0, struct.pack("<I", 0xffffffff) + bytes(12)),
    "rd-off-past": ring_in(0, len(r1) // 4, 9, 100, 0, r1),
})

# descriptor records naming buffers of the harness's pool: buffer i is in flight
# with generation i + 1 (flag bit i + 1 frees it)
d1 = rec(b"ab") + desc(10, 2, 3, 5) + rec(b"xyz") + desc(128, 7, 8, 0)
write("ring", {
    "desc": ring_in(0, len(d1) // 4, 0, 1000, 0, d1),
    "desc-peek": ring_in(0, len(d1) // 4, 0, 1000, 1, d1),
    "desc-partial": ring_in(0, len(d1) // 4, 0, 8, 0, d1),
    "desc-free": ring_in(0, len(d1) // 4, 0, 1000, 1 << 3, d1),
    "desc-wrapped": ring_in(120, len(d1) // 4, 0, 1000, 0, d1),
    "desc-many": ring_in(0, 18 * 4, 0, 1000, 0,
                         b"".join(desc(4, i % 8, i % 8 + 1, 0) for i in range(18))),
})

# padding records (a ring that rewinds: XIO_REC_PAD | elements to skip, header included)
def padrec(n):
    return struct.pack("<I", 0x40000000 | n) + bytes(4 * (n - 1))

write("ring", {
    "pad-then-records": ring_in(100, (28 + len(r1)) // 4, 0, 1000, 0, padrec(7) + r1),
    "pad-peek": ring_in(100, (28 + len(r1)) // 4, 0, 1000, 1, padrec(7) + r1),
    "pad-rd-off": ring_in(100, (28 + len(r1)) // 4, 3, 1000, 0, padrec(7) + r1),
    "pad-too-long": ring_in(0, 4, 0, 100, 0, struct.pack("<I", 0x40000000 | 9) + bytes(12)),
    "pad-desc": ring_in(0, 4, 0, 100, 0, struct.pack("<I", 0xc0000002) + bytes(12)),
    "pad-between": ring_in(0, (len(r1) + 8 + len(r1)) // 4, 0, 1000, 0, r1 + padrec(2) + r1),
})

def conn_in(flags, words, elems):
    return bytes([flags]) + struct.pack("<13I", *words) + elems

ok = [1024, 1023, 1023, 0, len(r1) // 4, 0, 0, 0, 0, 0, 0, 0, 5]
write("conn", {
    "sane": conn_in(0, ok, r1),
    "sane-far": conn_in(16, ok, r1),
    "peek-small": conn_in(32, [3, 1, 7] + ok[3:], r1),
    "header-garbage": conn_in(1, [0x80000000, 0xffffffff, 0x7fffffff] + ok[3:], r1),
    "head-ahead": conn_in(4, ok[:5] + [900, 0] + ok[7:], r1),
    "rd-off": conn_in(8, ok[:7] + [0xfffffff0] + ok[8:], r1),
    "bells": conn_in(0, ok[:8] + [1, 0xffffffff, 3, 1, 0], r1),
    # records across the end of the ring's array (they are written from the consumer index on)
    "wrapped": conn_in(0, [1024, 1023, 1023, 1020, 1020 + len(r1) // 4, 0, 1020] + [0] * 6, r1),
    # demoted (flags 64, 128): doorbells to skip and in-band bytes from the last word
    "demoted-peer": conn_in(64, ok[:12] + [5 | 3 << 8 | 10 << 16], r1),
    "demoted-failed": conn_in(128, ok, r1),
    "demoter": conn_in(192, ok[:12] + [5 | 2 << 8 | 7 << 16], r1),
})

# the pool of fuzz_conn: buffer i in flight with generation i + 1, the last free;
# bit 24 of the last word reads with the zero-copy calls first
ZC = 1 << 24
dc = desc(100, 2, 3, 10) + rec(b"xyz") + desc(256, 6, 7, 0)
okd = [1024, 1023, 1023, 0, len(dc) // 4, 0, 0, 0, 0, 0, 0, 0, 5]
n1 = len(r1) // 4
write("conn", {
    "desc": conn_in(0, okd, dc),
    "zc-bytes": conn_in(0, [3] + ok[1:12] + [ZC], r1),
    "zc-desc": conn_in(0, [40] + okd[1:12] + [ZC], dc),
    "zc-wrapped": conn_in(0, [7, 1023, 1023, 1020, 1020 + n1, 0, 1020] + [0] * 5 + [ZC], r1),
})

write("ctl", {
    "hello": b"\x00" + hdr(1, 16),
    "stats": b"\x00" + hdr(4, 16),
    "conns": b"\x00" + hdr(6, 16),
    "reclaim": b"\x00" + hdr(5, 16),
    "unpublish": b"\x00" + hdr(3, 16),
    "kill-on": b"\x00" + hdr(7, 20) + struct.pack("<I", 1),
    "publish-2fds": b"\x02" + hdr(2, 24) + struct.pack("<iI", 42, 0),
    "publish-1fd": b"\x01" + hdr(2, 24) + struct.pack("<iI", 42, 0),
    "stats-with-fd": b"\x01" + hdr(4, 16),
    "unknown-type": b"\x00" + hdr(99, 16),
    "badversion": b"\x00" + hdr(4, 16, ver=3),
    "short": b"\x02" + b"XIOP",
})

# several requests in one input (split where the magic starts again); first
# byte: 2 bits per request, 3 = the descriptors its type expects
def pair(t, slot, token):
    return hdr(t, 32) + struct.pack("<IIiI", slot, token, 1234, 0)

def repub(t, name):
    return hdr(t, 88) + struct.pack("<iI", 42, 0) + name.ljust(64, b"\0")

write("ctl", {
    "seq-publish-unpublish": b"\x03" + hdr(2, 24) + struct.pack("<iI", 42, 0) + hdr(3, 16),
    "seq-pair-offer-claim": bytes([3 | 3 << 2]) + pair(10, 2, 0x22) + pair(11, 2, 0x22) + hdr(6, 16),
    "seq-pair-offer-abandon": b"\x03" + pair(10, 2, 0x22) + pair(12, 2, 0x22),
    "republish": b"\x03" + repub(8, b"0000000000000001-42-1"),
    "withdraw": b"\x03" + repub(9, b"0000000000000001-42-1"),
    "seq-stats-conns-reclaim": b"\x00" + hdr(4, 16) + hdr(6, 16) + hdr(5, 16) + hdr(4, 16),
    "seq-hello-kill": b"\x00" + hdr(1, 16) + hdr(7, 20) + struct.pack("<I", 1) + hdr(4, 16),
})
print("corpus written under", os.path.join(HERE, "corpus"))
