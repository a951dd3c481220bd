#!/usr/bin/env python3
"""smtp_partner.py — a scripted SMTP partner for attack and fault scenarios.

Real partners in the test bed are Postfix (lib/postfix.bash).  This server
exists only for behaviour no real server shows on purpose; lib/partner.bash
starts it.  By default it behaves like a strict partner: STARTTLS, then AUTH
PLAIN/LOGIN against --user/--pass, then mail for anyone, each message stored
as a file in --spool.

  --mode normal        the strict partner above
  --mode nostarttls    EHLO without STARTTLS; mail accepted in plaintext
                       (whatever arrives lands in --spool: it must stay empty)
  --mode inject        "220 Ready to start TLS" followed, in the same
                       segment, by --inject plaintext (CVE-2011-0411 class),
                       then TLS as usual
  --mode inject-pre    the EHLO reply is followed by --inject (a response
                       injected before STARTTLS: the client reads it as the
                       STARTTLS reply unless it discards unsolicited input)
  --mode inject-late   "220 Ready to start TLS", then --inject 0.2 s later
                       (plaintext in flight when the client starts TLS: it
                       arrives where the ServerHello should)
  --mode notls         STARTTLS answered with 220, and TLS never starts
  --mode starttls-once STARTTLS offered on the first connection only

  --at POINT --do ACTION   a fault at a point of every session:
    POINT: connect (before the greeting), greeting (after it), ehlo,
           starttls (STARTTLS received), tls (ClientHello received, before
           answering it), ehlo2 (EHLO over TLS), auth, mail, rcpt, data
           (DATA received), body (after --after-bytes bytes of message
           data), dot (final "." received, before the reply), quit
    ACTION: reset (RST), close (FIN), stall (never answer; the socket stays
           open until the peer gives up)
  --faults N   only the first N sessions get the fault (default: every one);
               later sessions behave, so a client's retry succeeds
  --control FILE   read at the start of every session: when its text
               changed, its "--at P --do A [--faults N] [--after-bytes N]"
               (or nothing: no fault) replace the fault options, and the
               count of --faults starts again — one partner for a whole
               series of injections, no restart in between

Every line in and out, and every event, is appended to --log ("C: …",
"S: …", "* tls TLSv1.3", "* fault reset at data", "* stored FILE") so tests
can wait for an event.  Prints "ready" once it listens.
"""
import argparse, base64, os, socket, ssl, struct, sys, threading, time

p = argparse.ArgumentParser()
p.add_argument('--listen', required=True)
p.add_argument('--port', type=int, default=25)
p.add_argument('--host', default='mx.hostile.test')
p.add_argument('--mode', default='normal',
               choices=['normal', 'nostarttls', 'inject', 'inject-pre', 'inject-late', 'notls',
                        'starttls-once'])
p.add_argument('--cert', help='PEM with key and chain')
p.add_argument('--tls-max', choices=['1.2', '1.3'])
p.add_argument('--user', default='smtplock')
p.add_argument('--pass', dest='password', default='')
p.add_argument('--inject', default='250 2.0.0 injected\r\n')
p.add_argument('--at')
p.add_argument('--do', choices=['reset', 'close', 'stall'], default='reset')
p.add_argument('--after-bytes', type=int, default=0)
p.add_argument('--faults', type=int, default=0)
p.add_argument('--control')
p.add_argument('--spool', required=True)
p.add_argument('--log', required=True)
a = p.parse_args()

lock = threading.Lock()
sessions = [0]


class FaultCfg:
    def __init__(self, at, do, faults, after):
        self.at, self.do, self.faults, self.after = at, do, faults, after
        self.n = 0              # sessions since this configuration


fcfg = FaultCfg(a.at, a.do, a.faults, a.after_bytes)
control_text = [None]


def fault_cfg():
    """the fault configuration for a new session, and whether it applies"""
    global fcfg
    with lock:
        if a.control:
            try:
                with open(a.control) as f:
                    text = f.read()
            except OSError:
                text = ''
            if text != control_text[0]:
                control_text[0] = text
                q = argparse.ArgumentParser()
                q.add_argument('--at')
                q.add_argument('--do', choices=['reset', 'close', 'stall'], default='reset')
                q.add_argument('--faults', type=int, default=0)
                q.add_argument('--after-bytes', type=int, default=0)
                c = q.parse_args(text.split())
                fcfg = FaultCfg(c.at, c.do, c.faults, c.after_bytes)
        fcfg.n += 1
        return fcfg, fcfg.faults <= 0 or fcfg.n <= fcfg.faults


def log(sid, s):
    with lock, open(a.log, 'a') as f:
        f.write(f'{sid} {s}\n')


class Fault(Exception):
    pass


class Session:
    def __init__(self, sock, sid):
        self.s, self.sid, self.buf, self.pos, self.tls = sock, sid, b'', 0, False
        self.cfg, self.faulty = fault_cfg()

    def fault(self, point):
        if self.cfg.at != point or not self.faulty:
            return
        log(self.sid, f'* fault {self.cfg.do} at {point}')
        if self.cfg.do == 'stall':
            try:
                while self.s.recv(4096):
                    pass
            except OSError:
                pass
        elif self.cfg.do == 'reset':
            # SO_LINGER 0: close() sends RST (on an SSLSocket too, and
            # without a close_notify alert).
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        raise Fault()

    def send(self, text):
        for line in text.splitlines():
            log(self.sid, 'S: ' + line)
        self.s.sendall(text.encode() if isinstance(text, str) else text)

    def line(self, quiet=False):
        while True:
            i = self.buf.find(b'\n', self.pos)
            if i >= 0:
                break
            d = self.s.recv(65536)
            if not d:
                raise EOFError()
            self.buf = self.buf[self.pos:] + d
            self.pos = 0
        l = self.buf[self.pos:i]
        self.pos = i + 1
        l = l.rstrip(b'\r').decode('latin-1')
        if not quiet:           # message lines are counted, not logged
            log(self.sid, 'C: ' + l)
        return l

    def ehlo(self, offer_tls):
        caps = ['PIPELINING', 'SIZE 209715200', '8BITMIME', 'ENHANCEDSTATUSCODES']
        if offer_tls:
            caps.append('STARTTLS')
        if self.tls:
            caps.append('AUTH PLAIN LOGIN')
        lines = [a.host] + caps
        r = ''.join(f'250-{x}\r\n' for x in lines[:-1]) + f'250 {lines[-1]}\r\n'
        if a.mode == 'inject-pre' and not self.tls:
            r += a.inject
        self.send(r)

    def starttls(self):
        self.fault('starttls')
        if a.mode == 'inject':
            self.send('220 2.0.0 Ready to start TLS\r\n' + a.inject)
        else:
            self.send('220 2.0.0 Ready to start TLS\r\n')
        if a.mode == 'inject-late':
            time.sleep(0.2)
            self.send(a.inject)
        if a.mode == 'notls':
            log(self.sid, '* notls: holding')
            while self.s.recv(4096):
                pass
            raise EOFError()
        self.buf, self.pos = b'', 0     # nothing read before the handshake counts
        if self.cfg.at == 'tls' and self.faulty:
            self.s.recv(5, socket.MSG_PEEK)
            self.fault('tls')
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert)
        if a.tls_max == '1.2':
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.s = ctx.wrap_socket(self.s, server_side=True)
        self.tls = True
        log(self.sid, f'* tls {self.s.version()}')

    def auth(self, args):
        self.fault('auth')
        mech, _, ini = args.partition(' ')
        mech = mech.upper()
        if mech == 'PLAIN':
            if not ini:
                self.send('334 \r\n')
                ini = self.line()
            parts = base64.b64decode(ini).split(b'\0')
            user, pw = parts[1].decode(), parts[2].decode()
        elif mech == 'LOGIN':
            self.send('334 VXNlcm5hbWU6\r\n')
            user = base64.b64decode(self.line()).decode()
            self.send('334 UGFzc3dvcmQ6\r\n')
            pw = base64.b64decode(self.line()).decode()
        else:
            self.send('504 5.5.4 Unrecognized authentication type\r\n')
            return False
        if user == a.user and pw == a.password:
            self.send('235 2.7.0 Authentication successful\r\n')
            log(self.sid, f'* auth {user}')
            return True
        self.send('535 5.7.8 Error: authentication failed\r\n')
        return False

    def data(self):
        self.fault('data')
        self.send('354 End data with <CR><LF>.<CR><LF>\r\n')
        body, n = [], 0
        while True:
            l = self.line(quiet=True)
            if l == '.':
                break
            body.append(l[1:] if l.startswith('.') else l)
            n += len(l) + 2
            if self.cfg.at == 'body' and n >= self.cfg.after:
                self.fault('body')
        log(self.sid, f'* data {len(body)} lines {n} bytes')
        self.fault('dot')
        name = os.path.join(a.spool, f'{time.time_ns()}.{self.sid}.eml')
        with open(name + '.tmp', 'w', encoding='latin-1') as f:
            f.write('\n'.join(body) + '\n')
        os.rename(name + '.tmp', name)
        log(self.sid, f'* stored {name}')
        self.fault('stored')
        self.send('250 2.0.0 Ok: queued\r\n')

    def run(self):
        with lock:
            sessions[0] += 1
            first = sessions[0] == 1
        offer_tls = a.mode != 'nostarttls' and (a.mode != 'starttls-once' or first)
        self.fault('connect')
        self.send(f'220 {a.host} ESMTP\r\n')
        self.fault('greeting')
        authed = False
        while True:
            l = self.line()
            verb, _, args = l.partition(' ')
            verb = verb.upper()
            if verb in ('EHLO', 'HELO'):
                self.fault('ehlo2' if self.tls else 'ehlo')
                self.ehlo(offer_tls and not self.tls)
            elif verb == 'STARTTLS' and offer_tls and not self.tls:
                self.starttls()
            elif verb == 'AUTH' and self.tls and not authed:
                authed = self.auth(args)
            elif verb == 'MAIL':
                self.fault('mail')
                if offer_tls and not (self.tls and authed):
                    self.send('530 5.7.0 Must issue a STARTTLS command first\r\n'
                              if not self.tls else '530 5.7.0 Authentication required\r\n')
                else:
                    self.send('250 2.1.0 Ok\r\n')
            elif verb == 'RCPT':
                self.fault('rcpt')
                self.send('250 2.1.5 Ok\r\n')
            elif verb == 'DATA':
                self.data()
            elif verb in ('RSET', 'NOOP'):
                self.send('250 2.0.0 Ok\r\n')
            elif verb == 'QUIT':
                self.fault('quit')
                self.send('221 2.0.0 Bye\r\n')
                return
            else:
                self.send('502 5.5.2 Error: command not recognized\r\n')


def serve(c, sid):
    sess = Session(c, sid)
    log(sid, '* connect')
    try:
        sess.run()
    except (Fault, EOFError, OSError, ssl.SSLError, ValueError, IndexError) as e:
        log(sid, f'* end {type(e).__name__}')
    finally:
        try:
            sess.s.close()
        except OSError:
            pass


os.makedirs(a.spool, exist_ok=True)
fam = socket.AF_INET6 if ':' in a.listen else socket.AF_INET
ls = socket.socket(fam, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((a.listen, a.port))
ls.listen(128)
print('ready', flush=True)
n = 0
while True:
    c, _ = ls.accept()
    n += 1
    threading.Thread(target=serve, args=(c, n), daemon=True).start()
