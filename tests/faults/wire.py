#!/usr/bin/env python3
"""wire.py — plaintext mail bytes on an SMTP wire, from a packet capture.

usage: wire.py FILE.pcap [-p PORT]... [MARKER...]

For every connection direction toward an SMTP port (default 25; the
client's side of the conversation, which is where mail flows outbound),
the stream is read the way the egress guard reads it:

  - before TLS, lines whose verb is EHLO, HELO, STARTTLS, QUIT, RSET or
    NOOP carry no mail and are allowed; every other line (MAIL FROM, RCPT
    TO, DATA, message lines, AUTH) counts as plaintext;
  - from the first TLS record on (content type 20-23, version 3.x), the
    stream is walked record by record; bytes that do not parse as a TLS
    record count as plaintext.

A capture that missed segments leaves holes in a stream: the walk skips
a hole and finds its footing again (the next line, or the next TLS record
header followed by another); the bytes skipped count as gap_bytes, not as
plaintext, and a test should want none.

It also searches every direction of every connection for each MARKER (a
message's unique text) in clear.  Prints key=value lines:

  plaintext_bytes=N   bytes of mail-carrying plaintext toward the ports
  plaintext_flows=N   connections that had any
  markers_in_clear=N  markers found in clear (in any direction)
  tls_flows=N         connections toward the ports that started TLS
  flows=N             connections toward the ports with payload
  gap_bytes=N         bytes the capture missed or the walk had to skip
  bytes=N             TCP payload bytes in the capture
and, for each connection with plaintext, "leak=<first 60 bytes>".
"""
import os, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'bats', 'lib'))
import capture_scan  # noqa: E402

ALLOWED = (b'EHLO', b'HELO', b'STARTTLS', b'QUIT', b'RSET', b'NOOP')


def is_tls_record(b, i):
    return (len(b) >= i + 5 and 20 <= b[i] <= 23 and b[i + 1] == 3 and b[i + 2] <= 4
            and int.from_bytes(b[i + 3:i + 5], 'big') <= 16384 + 2048)


def reassemble(segs):
    """(bytes, holes): the stream with holes zero-filled, holes as sorted
    (start, end) offsets."""
    isn = segs[0][0]
    rel = [((s - isn) & 0xffffffff, d) for s, d in segs]
    rel = sorted((s - (1 << 32) if s > (1 << 31) else s, d) for s, d in rel)
    base = rel[0][0]
    buf = bytearray(max(s + len(d) for s, d in rel) - base)
    holes, covered = [], 0
    for s, d in rel:
        s -= base
        if s > covered:
            holes.append((covered, s))
        buf[s:s + len(d)] = d
        covered = max(covered, s + len(d))
    return bytes(buf), holes


def scan(b, holes):
    """(plaintext bytes, started TLS, gap bytes, first leaked bytes)"""
    i, leak, gap, first = 0, 0, 0, b''

    def hole_at(i):
        for s, e in holes:
            if s <= i < e:
                return e
        return None

    def in_hole(i, j):
        return any(s < j and i < e for s, e in holes)

    def resync(i):
        """the next offset from i where two TLS records follow each other"""
        for j in range(i, len(b)):
            if is_tls_record(b, j):
                k = j + 5 + int.from_bytes(b[j + 3:j + 5], 'big')
                if k >= len(b) or hole_at(k) is not None or is_tls_record(b, k):
                    return j
        return len(b)

    while i < len(b) and not is_tls_record(b, i):
        e = hole_at(i)
        if e is not None:       # lost: the next line starts after a newline
            j = b.find(b'\n', e)
            nxt = len(b) if j < 0 else j + 1
            gap += nxt - i
            i = nxt
            continue
        j = b.find(b'\n', i)
        end = len(b) if j < 0 else j + 1
        if in_hole(i, end):
            end = next(s for s, e in holes if s < end and i < e)
            gap += end - i
            i = end
            continue
        line = b[i:end]
        verb = line.split(b' ', 1)[0].strip().upper()
        if verb not in ALLOWED:
            leak += len(line)
            first = first or line
        i = end
    tls = i < len(b)
    while i < len(b):
        e = hole_at(i)
        if e is not None:
            j = resync(e)
            gap += j - i
            i = j
            continue
        if not is_tls_record(b, i):
            j = resync(i) if holes else len(b)
            if holes and j < len(b) and in_hole(i, j + 1):
                gap += j - i          # a hole ahead explains the break
            else:
                leak += j - i
                first = first or b[i:i + 60]
            i = j
            continue
        i += 5 + int.from_bytes(b[i + 3:i + 5], 'big')
    return leak, tls, gap, first


def main(argv):
    ports, markers = [], []
    while argv:
        a = argv.pop(0)
        if a == '-p':
            ports.append(int(argv.pop(0)))
        else:
            markers.append(a)
    path, markers = markers[0], markers[1:]
    ports = ports or [25]
    st = []
    for key, segs in capture_scan._segments(path).items():
        data, holes = reassemble(segs)
        st.append((key[0], key[1], key[2], key[3], data, holes))
    out = dict(plaintext_bytes=0, plaintext_flows=0, markers_in_clear=0,
               tls_flows=0, flows=0, gap_bytes=0, bytes=sum(len(s[4]) for s in st))
    leaks = []
    for _src, _sport, _dst, dport, data, holes in st:
        if dport not in ports:
            continue
        out['flows'] += 1
        n, tls, gap, first = scan(data, holes)
        out['tls_flows'] += tls
        out['gap_bytes'] += gap
        if n:
            out['plaintext_bytes'] += n
            out['plaintext_flows'] += 1
            leaks.append(first[:60])
    enc = [m.encode() for m in markers]
    out['markers_in_clear'] = sum(1 for m in enc if any(m in s[4] for s in st))
    for k, v in out.items():
        print(f'{k}={v}')
    for l in leaks:
        print('leak=' + l.decode('latin-1').encode('unicode_escape').decode())


if __name__ == '__main__':
    main(sys.argv[1:])
