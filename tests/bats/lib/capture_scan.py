#!/usr/bin/env python3
"""capture_scan.py — find plaintext in a packet capture, across segments.

usage: capture_scan.py [-i] [-s] FILE.pcap [TEXT...]

Reads a classic pcap file (what `tcpdump -w` writes; Ethernet, Linux cooked
v1/v2 or raw IP links; IPv4 and IPv6), reassembles each direction of each
TCP connection by sequence number — so a text split across segments, or
retransmitted, is found once — and prints, for each TEXT,
"<connections-directions containing it>\t<TEXT>", then "bytes\t<payload
bytes>".  -i compares case-insensitively (SMTP verbs are).  Used by
lib/capture.bash; parsing the file here is ten times faster than tshark's
start-up.  Other scripts import it: streams(path) gives the reassembled
connection directions.
"""
import struct, sys


def _l3(linktype, frame):
    """(ethertype-ish version, offset of the IP header) or None."""
    if linktype == 1:                       # Ethernet, maybe 802.1Q tags
        off, et = 14, struct.unpack('>H', frame[12:14])[0]
        while et in (0x8100, 0x88a8) and len(frame) >= off + 4:
            et = struct.unpack('>H', frame[off + 2:off + 4])[0]
            off += 4
        return et, off
    if linktype == 113:                     # Linux cooked v1
        return struct.unpack('>H', frame[14:16])[0], 16
    if linktype == 276:                     # Linux cooked v2
        return struct.unpack('>H', frame[0:2])[0], 20
    if linktype in (101, 12, 14):           # raw IP
        v = frame[0] >> 4
        return (0x0800 if v == 4 else 0x86dd), 0
    return None


def _segments(path):
    """{(src, sport, dst, dport, generation): [(seq, payload)]}"""
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 24:
        raise SystemExit('capture_scan: not a pcap file')
    magic = data[:4]
    if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
        en = '<'
    elif magic in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'):
        en = '>'
    else:
        raise SystemExit('capture_scan: not a classic pcap file')
    linktype = struct.unpack(en + 'I', data[20:24])[0] & 0x0fffffff

    flows = {}
    gen = {}
    pos = 24
    while pos + 16 <= len(data):
        incl = struct.unpack(en + 'I', data[pos + 8:pos + 12])[0]
        frame = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        r = _l3(linktype, frame)
        if not r:
            continue
        et, off = r
        if et == 0x0800 and len(frame) >= off + 20:
            ihl = (frame[off] & 15) * 4
            total = struct.unpack('>H', frame[off + 2:off + 4])[0]
            if frame[off + 9] != 6:
                continue
            src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
            end = off + total
            off += ihl
        elif et == 0x86dd and len(frame) >= off + 40:
            nh = frame[off + 6]
            plen = struct.unpack('>H', frame[off + 4:off + 6])[0]
            src, dst = frame[off + 8:off + 24], frame[off + 24:off + 40]
            end = off + 40 + plen
            off += 40
            while nh in (0, 43, 60) and len(frame) >= off + 8:
                nh, off = frame[off], off + (frame[off + 1] + 1) * 8
            if nh != 6:
                continue
        else:
            continue
        if len(frame) < off + 20:
            continue
        sport, dport, seq = struct.unpack('>HHI', frame[off:off + 8])
        doff = (frame[off + 12] >> 4) * 4
        syn = frame[off + 13] & 0x02
        key = (src, sport, dst, dport)
        if syn:                             # a new connection on this 4-tuple
            gen[key] = gen.get(key, 0) + 1
        payload = frame[off + doff:min(end, len(frame))]
        if payload:
            flows.setdefault(key + (gen.get(key, 0),), []).append((seq, payload))
    return flows


def streams(path, segments=False):
    """[(src, sport, dst, dport, payload)] per connection direction,
    reassembled by sequence number (segments=True: one entry per segment)."""
    flows = _segments(path)
    if segments:
        flows = {(k, i): [sd] for k, v in flows.items() for i, sd in enumerate(v)}
    out = []
    for key, segs in flows.items():
        k = key[0] if segments else key
        isn = segs[0][0]
        rel = [((s - isn) & 0xffffffff, d) for s, d in segs]
        rel = [(s - (1 << 32) if s > (1 << 31) else s, d) for s, d in rel]
        base = min(s for s, _ in rel)
        buf = bytearray(max(s + len(d) for s, d in rel) - base)
        for s, d in rel:
            buf[s - base:s - base + len(d)] = d
        out.append((k[0], k[1], k[2], k[3], bytes(buf)))
    return out


def main(argv):
    icase = segments = False
    while argv and argv[0] in ('-i', '-s'):
        icase |= argv[0] == '-i'
        segments |= argv[0] == '-s'
        argv = argv[1:]
    path, texts = argv[0], argv[1:]
    got = [s[4] for s in streams(path, segments)]
    total = sum(len(b) for b in got)
    if icase:
        got = [b.lower() for b in got]
    for t in texts:
        b = t.encode()
        if icase:
            b = b.lower()
        print(f'{sum(1 for s in got if b in s)}\t{t}')
    print(f'bytes\t{total}')


if __name__ == '__main__':
    main(sys.argv[1:])
