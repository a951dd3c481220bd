#!/usr/bin/env python3
"""smtp_client.py — a scripted SMTP client for inbound attack tests.

Real partners in the test bed are Postfix senders (lib/postfix.bash).  This
client plays what no real sender does on purpose, against our inbound
listener, one scenario per run:

  --do good            EHLO, STARTTLS, TLS (verified against --ca), EHLO,
                       AUTH PLAIN --user/--pass, one message with --marker,
                       QUIT: the control case
  --do pipelined       EHLO, then "STARTTLS\\r\\nMAIL FROM:<...>\\r\\n" in ONE
                       segment (CVE-2011-0411: the MAIL must not be taken as
                       sent under TLS)
  --do plain-after-220 EHLO, STARTTLS, and after the 220 a plaintext MAIL
                       FROM instead of a ClientHello
  --do before-tls      EHLO, MAIL FROM, RCPT TO, DATA, AUTH PLAIN, QUIT, all
                       in the clear

Prints every line received as "S: <line>", TLS as "* tls <version>", and
"* closed" when the server closes; exit status 0 unless it could not
connect.
"""
import argparse, base64, socket, ssl, sys

p = argparse.ArgumentParser()
p.add_argument('--connect', required=True)
p.add_argument('--port', type=int, default=25)
p.add_argument('--bind')
p.add_argument('--do', required=True,
               choices=['good', 'pipelined', 'plain-after-220', 'before-tls'])
p.add_argument('--ca')
p.add_argument('--name', default='mx.our.test')
p.add_argument('--user', default='NTSOL')
p.add_argument('--pass', dest='password', default='')
p.add_argument('--marker', default='SLMNONE')
p.add_argument('--rcpt', default='doug@our.test')
a = p.parse_args()

fam = socket.AF_INET6 if ':' in a.connect else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(15)
if a.bind:
    s.bind((a.bind, 0))
try:
    s.connect((a.connect, a.port))
except OSError as e:
    print(f'* connect failed: {e}')
    sys.exit(1)
buf = b''


def reply():
    """one whole reply, printed; its code, or None when closed"""
    global buf
    while True:
        while b'\n' not in buf:
            try:
                d = s.recv(4096)
            except (OSError, ssl.SSLError):
                d = b''
            if not d:
                print('* closed')
                return None
            buf += d
        line, buf = buf.split(b'\n', 1)
        line = line.rstrip(b'\r').decode('latin-1')
        print('S: ' + line, flush=True)
        if len(line) < 4 or line[3] != '-':
            return int(line[:3]) if line[:3].isdigit() else 0


def send(text):
    try:
        s.sendall(text.encode())
    except OSError:
        pass


def rest():
    """everything until the server closes"""
    while reply() is not None:
        pass


if reply() != 220:
    rest()
    sys.exit(0)
send('EHLO client.ntsol.test\r\n')
reply()
if a.do == 'pipelined':
    send('STARTTLS\r\nMAIL FROM:<a@ntsol.test>\r\n')
    rest()
elif a.do == 'plain-after-220':
    send('STARTTLS\r\n')
    if reply() == 220:
        send('MAIL FROM:<a@ntsol.test>\r\n')
    rest()
elif a.do == 'before-tls':
    for c in ('MAIL FROM:<a@ntsol.test>', f'RCPT TO:<{a.rcpt}>', 'DATA',
              'AUTH PLAIN ' + base64.b64encode(f'\0{a.user}\0{a.password}'.encode()).decode()):
        send(c + '\r\n')
        if reply() is None:
            sys.exit(0)
    send('QUIT\r\n')
    rest()
else:
    send('STARTTLS\r\n')
    if reply() != 220:
        rest()
        sys.exit(0)
    ctx = ssl.create_default_context(cafile=a.ca)
    s = ctx.wrap_socket(s, server_hostname=a.name)
    buf = b''
    print(f'* tls {s.version()}', flush=True)
    send('EHLO client.ntsol.test\r\n')
    reply()
    send('AUTH PLAIN ' + base64.b64encode(f'\0{a.user}\0{a.password}'.encode()).decode() + '\r\n')
    if reply() == 235:
        for c in ('MAIL FROM:<a@ntsol.test>', f'RCPT TO:<{a.rcpt}>', 'DATA'):
            send(c + '\r\n')
            reply()
        send(f'Subject: {a.marker}\r\nMessage-ID: <{a.marker}@smtplock.test>\r\n\r\n'
             f'marker: {a.marker}\r\n.\r\n')
        reply()
    send('QUIT\r\n')
    rest()
