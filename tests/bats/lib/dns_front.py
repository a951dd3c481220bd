#!/usr/bin/env python3
"""dns_front.py — a DNS front for the test bed's dnsmasq (tests/bats/lib/dns.bash).

dnsmasq answers every test record but cannot answer SERVFAIL on demand, nor
set the AD ("authenticated data") bit as a validating resolver would.  This
front listens on ADDR:53 (UDP and TCP), forwards each query unchanged to
dnsmasq on UPSTREAM, and applies the mode read from MODEFILE on every query:

  pass      forward, answer unchanged
  ad        forward, set the AD bit in the answer (a "validating resolver")
  servfail  answer SERVFAIL without forwarding
  drop      never answer (resolver time-outs)

usage: dns_front.py ADDR UPSTREAM_ADDR UPSTREAM_PORT MODEFILE
"""
import os, socket, sys, threading, struct, select

addr, up_addr, up_port, modefile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
fam = socket.AF_INET6 if ':' in addr else socket.AF_INET

def mode():
    try:
        with open(modefile) as f:
            return f.read().strip() or 'pass'
    except OSError:
        return 'pass'

def answer(q):
    m = mode()
    if len(q) < 12 or m == 'drop':
        return None
    if m == 'servfail':
        # QR=1, same opcode and RD, RA=1, RCODE=2; the question echoed back.
        flags = 0x8000 | (q[2] & 0x79) << 8 | 0x80 | 2
        return q[:2] + struct.pack('!HHHHH', flags, struct.unpack('!H', q[4:6])[0], 0, 0, 0) + q[12:]
    ufam = socket.AF_INET6 if ':' in up_addr else socket.AF_INET
    with socket.socket(ufam, socket.SOCK_DGRAM) as u:
        u.settimeout(3)
        u.sendto(q, (up_addr, up_port))
        try:
            r = u.recv(65535)
        except OSError:
            return None
    if m == 'ad' and len(r) >= 4:
        r = r[:3] + bytes([r[3] | 0x20]) + r[4:]
    return r

def serve_tcp(c):
    with c:
        try:
            while True:
                h = c.recv(2, socket.MSG_WAITALL)
                if len(h) < 2:
                    return
                q = c.recv(struct.unpack('!H', h)[0], socket.MSG_WAITALL)
                r = answer(q)
                if r is None:
                    return
                c.sendall(struct.pack('!H', len(r)) + r)
        except OSError:
            return

udp = socket.socket(fam, socket.SOCK_DGRAM)
udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
udp.bind((addr, 53))
tcp = socket.socket(fam, socket.SOCK_STREAM)
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind((addr, 53))
tcp.listen(16)
print('ready', flush=True)
while True:
    rd, _, _ = select.select([udp, tcp], [], [])
    if udp in rd:
        q, peer = udp.recvfrom(65535)
        r = answer(q)
        if r is not None:
            udp.sendto(r, peer)
    if tcp in rd:
        c, _ = tcp.accept()
        threading.Thread(target=serve_tcp, args=(c,), daemon=True).start()
