#!/usr/bin/env python3
"""load.py — hold the controller under load: many redirected sessions,
slowloris clients, and fresh sessions timed in the middle of it all.

  load.py partner --listen ADDR [--port 25] --cert PEM
      a partner MX for the load: STARTTLS, any AUTH PLAIN accepted, mail
      taken and dropped.  asyncio: thousands of idle TLS sessions cost it
      little.  Prints "ready" once it listens.

  load.py run --target ADDR [--port 25] --ctl-pid PID [options]
      runs inside the enforced cgroup: every connection to ADDR:PORT is
      redirected to the controller, which opens its own TLS + AUTH session
      to the partner before greeting us.  Phases:
        1. idle figures of the controller (/proc/PID: RSS, fds)
        2. --held N sessions opened (--ramp at a time) and carried into the
           relay (EHLO, MAIL FROM answered by the partner through the
           controller), then kept alive with a NOOP every --keepalive s
        3. --slow M slowloris clients: after the greeting, one byte of an
           endless EHLO line every --slow-interval s
        4. the controller's RSS and fds with all of them held
        5. --fresh K complete transactions (EHLO, MAIL, RCPT, DATA of 1 KB,
           QUIT), one after the other, each timed from connect to 221
        6. the slowloris clients' fate: cut by the controller, and when
        7. limits: --per-source-cap C: C+5 connections from one fresh
           source address, how many got 421 4.3.2; a line of --long-line
           bytes: the reply
        8. everyone hangs up; the controller's idle figures again (fds at
           once, RSS 1.5 s later: it trims malloc's arenas when idle)
      Sources: connections bind to --sources FIRST-LAST (127.0.0.x, round
      robin), so that the per-source cap is not what limits the load.
      Prints key=value lines (and --json FILE: the same as JSON).
"""
import argparse, asyncio, json, os, socket, ssl, statistics, sys, time


# ---- the partner -------------------------------------------------------------

async def partner_session(reader, writer, ctx, host):
    async def send(s):
        writer.write(s.encode())
        await writer.drain()

    tls = False
    try:
        await send(f'220 {host} ESMTP load\r\n')
        while True:
            line = await reader.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b'EHLO', b'HELO'):
                caps = ['PIPELINING', '8BITMIME', 'SIZE 104857600', 'ENHANCEDSTATUSCODES']
                caps.append('AUTH PLAIN' if tls else 'STARTTLS')
                await send(f'250-{host}\r\n' + ''.join(f'250-{c}\r\n' for c in caps[:-1]) +
                           f'250 {caps[-1]}\r\n')
            elif verb == b'STAR' and not tls:
                await send('220 2.0.0 Ready to start TLS\r\n')
                await writer.start_tls(ctx)
                tls = True
            elif verb == b'AUTH':
                await send('235 2.7.0 Authentication successful\r\n')
            elif verb in (b'MAIL', b'RCPT', b'RSET', b'NOOP'):
                await send('250 2.0.0 Ok\r\n')
            elif verb == b'DATA':
                await send('354 go ahead\r\n')
                while (await reader.readline()) not in (b'.\r\n', b'.\n', b''):
                    pass
                await send('250 2.0.0 Ok: queued\r\n')
            elif verb == b'QUIT':
                await send('221 2.0.0 Bye\r\n')
                return
            else:
                await send('502 5.5.2 Error: command not recognized\r\n')
    except (ConnectionError, ssl.SSLError, OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def partner(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert)
    srv = await asyncio.start_server(lambda r, w: partner_session(r, w, ctx, a.host),
                                     a.listen, a.port, backlog=4096, limit=1 << 20)
    print('ready', flush=True)
    async with srv:
        await srv.serve_forever()


# ---- the clients -----------------------------------------------------------------

def ctl_figures(pid):
    rss = 0
    with open(f'/proc/{pid}/status') as f:
        for l in f:
            if l.startswith('VmRSS:'):
                rss = int(l.split()[1])
    return rss, len(os.listdir(f'/proc/{pid}/fd'))


class Client:
    def __init__(self, a, src):
        self.a, self.src = a, src
        self.r = self.w = None

    async def connect(self):
        self.r, self.w = await asyncio.wait_for(asyncio.open_connection(
            self.a.target, self.a.port, local_addr=(self.src, 0), limit=1 << 16), 30)

    async def reply(self, timeout=30):
        """one whole reply: (code, text of the last line)"""
        while True:
            l = await asyncio.wait_for(self.r.readline(), timeout)
            if not l:
                raise ConnectionError('closed')
            if len(l) < 4 or l[3:4] != b'-':
                return int(l[:3]), l.decode('latin-1').strip()

    async def cmd(self, s, timeout=30):
        self.w.write(s.encode() if isinstance(s, str) else s)
        await self.w.drain()
        return await self.reply(timeout)

    def close(self):
        if self.w:
            self.w.close()


def sources(spec):
    first, last = spec.split('-')
    base = first.rsplit('.', 1)[0]
    return [f'{base}.{i}' for i in range(int(first.rsplit('.', 1)[1]), int(last.rsplit('.', 1)[1]) + 1)]


async def held_one(a, src, stop, stats):
    c = Client(a, src)
    try:
        await c.connect()
        code, text = await c.reply()
        if code != 220:
            stats['held_refused'] += 1
            stats.setdefault('held_refusal', text)
            return
        if (await c.cmd('EHLO load.client.test\r\n'))[0] != 250:
            raise ConnectionError('EHLO')
        if (await c.cmd('MAIL FROM:<load@client.test>\r\n'))[0] != 250:
            raise ConnectionError('MAIL')
        stats['held'] += 1
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), a.keepalive)
            except asyncio.TimeoutError:
                if (await c.cmd('NOOP\r\n'))[0] != 250:
                    raise ConnectionError('NOOP')
        await c.cmd('QUIT\r\n')
    except (ConnectionError, OSError, asyncio.TimeoutError) as e:
        stats['held_failed'] += 1
        stats.setdefault('held_error', f'{type(e).__name__}: {e}')
    finally:
        c.close()


async def slow_one(a, src, stats):
    """one byte at a time; returns when the controller cuts us"""
    c = Client(a, src)
    t0 = None
    try:
        await c.connect()
        code, _ = await c.reply()
        if code != 220:
            stats['slow_refused'] += 1
            return
        t0 = time.monotonic()
        stats['slow_started'] += 1
        payload = b'EHLO ' + b's' * 100000
        for i in range(len(payload)):
            c.w.write(payload[i:i + 1])
            await c.w.drain()
            try:
                l = await asyncio.wait_for(c.r.readline(), a.slow_interval)
                # an answer or the end: the controller has had enough
                stats['slow_cut'] += 1
                stats['slow_cut_s'].append(time.monotonic() - t0)
                stats.setdefault('slow_last_words', l.decode('latin-1').strip())
                return
            except asyncio.TimeoutError:
                continue
    except (ConnectionError, OSError, asyncio.TimeoutError) as e:
        stats['slow_cut'] += 1
        if t0 is not None:
            stats['slow_cut_s'].append(time.monotonic() - t0)
        stats.setdefault('slow_error', f'{type(e).__name__}')
    finally:
        c.close()


async def fresh_one(a, src):
    """a whole transaction; seconds, or raises"""
    t0 = time.monotonic()
    c = Client(a, src)
    try:
        await c.connect()
        steps = [(None, 220), ('EHLO fresh.client.test\r\n', 250),
                 ('MAIL FROM:<fresh@client.test>\r\n', 250), ('RCPT TO:<doug@partner.test>\r\n', 250),
                 ('DATA\r\n', 354), ('Subject: fresh\r\n\r\n' + 'x' * 1000 + '\r\n.\r\n', 250),
                 ('QUIT\r\n', 221)]
        for s, want in steps:
            code, text = await (c.reply() if s is None else c.cmd(s))
            if code != want:
                raise ConnectionError(f'{text!r} to {s!r}')
        return time.monotonic() - t0
    finally:
        c.close()


async def capped(a, src, n):
    """n connections at once from src: how many got 421 4.3.2"""
    cs = [Client(a, src) for _ in range(n)]
    got = {'ok': 0, 'cap': 0, 'other': 0}
    await asyncio.gather(*(c.connect() for c in cs), return_exceptions=True)
    for c in cs:
        try:
            code, text = await c.reply(15)
            if code == 220:
                got['ok'] += 1
            elif code == 421 and '4.3.2' in text:
                got['cap'] += 1
            else:
                got['other'] += 1
        except (ConnectionError, OSError, asyncio.TimeoutError, AttributeError):
            got['other'] += 1
    for c in cs:
        c.close()
    return got


async def long_line(a, src):
    c = Client(a, src)
    try:
        await c.connect()
        await c.reply()
        code, text = await c.cmd(b'EHLO ' + b'L' * a.long_line + b'\r\n', 15)
        return text
    except (ConnectionError, OSError, asyncio.TimeoutError) as e:
        return f'closed ({type(e).__name__})'
    finally:
        c.close()


async def run(a):
    out = {}
    srcs = sources(a.sources)
    rss0, fd0 = ctl_figures(a.ctl_pid)
    out.update(idle_rss_kb=rss0, idle_fds=fd0)

    stats = {'held': 0, 'held_failed': 0, 'held_refused': 0, 'slow_started': 0, 'slow_refused': 0,
             'slow_cut': 0, 'slow_cut_s': []}
    stop = asyncio.Event()
    t0 = time.monotonic()
    held = []
    for i in range(0, a.held, a.ramp):
        batch = [asyncio.create_task(held_one(a, srcs[(i + k) % len(srcs)], stop, stats))
                 for k in range(min(a.ramp, a.held - i))]
        held += batch
        while stats['held'] + stats['held_failed'] + stats['held_refused'] < i + len(batch):
            await asyncio.sleep(0.05)
    out['held_open_s'] = round(time.monotonic() - t0, 2)
    slow = [asyncio.create_task(slow_one(a, srcs[-1 - (k % len(srcs))], stats)) for k in range(a.slow)]
    t1 = time.monotonic()
    while stats['slow_started'] + stats['slow_refused'] + stats['slow_cut'] < a.slow and \
            time.monotonic() - t1 < 60:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1)
    rss1, fd1 = ctl_figures(a.ctl_pid)
    out.update(held=stats['held'], held_failed=stats['held_failed'],
               held_refused=stats['held_refused'], slow_started=stats['slow_started'],
               loaded_rss_kb=rss1, loaded_fds=fd1)
    live = stats['held'] + stats['slow_started'] - stats['slow_cut']
    out['sessions_live'] = live
    if live > 0:
        out['rss_per_session_kb'] = round((rss1 - rss0) / live, 1)

    times, errors = [], []
    for k in range(a.fresh):
        try:
            times.append(await fresh_one(a, srcs[k % len(srcs)]))
        except (ConnectionError, OSError, asyncio.TimeoutError) as e:
            errors.append(f'{type(e).__name__}: {e}')
    out.update(fresh_ok=len(times), fresh_failed=len(errors))
    if times:
        out.update(fresh_median_s=round(statistics.median(times), 3), fresh_max_s=round(max(times), 3))
    if errors:
        out['fresh_error'] = errors[0]

    if a.per_source_cap:
        got = await capped(a, a.cap_source, a.per_source_cap + 5)
        out.update(cap_ok=got['ok'], cap_refused=got['cap'], cap_other=got['other'])
    if a.long_line:
        out['long_line_reply'] = await long_line(a, srcs[0])

    # The slowloris clients get the controller's per-state timeout.
    if slow:
        await asyncio.wait(slow, timeout=a.slow_wait)
    out.update(slow_cut=stats['slow_cut'])
    if stats['slow_cut_s']:
        out.update(slow_cut_min_s=round(min(stats['slow_cut_s']), 1),
                   slow_cut_max_s=round(max(stats['slow_cut_s']), 1))
    for k in ('held_error', 'held_refusal', 'slow_last_words', 'slow_error'):
        if k in stats:
            out[k] = stats[k]

    stop.set()
    if held:
        await asyncio.wait(held, timeout=30)
    for t in slow:
        t.cancel()
    t2 = time.monotonic()
    while time.monotonic() - t2 < 30:
        rss2, fd2 = ctl_figures(a.ctl_pid)
        if fd2 <= fd0:
            break
        await asyncio.sleep(0.2)
    # The controller gives memory back a moment after its last session.
    await asyncio.sleep(1.5)
    rss2, fd2 = ctl_figures(a.ctl_pid)
    out.update(after_rss_kb=rss2, after_fds=fd2)
    for k, v in out.items():
        print(f'{k}={v}')
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(out, f, indent=1)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest='cmd', required=True)
    q = sub.add_parser('partner')
    q.add_argument('--listen', required=True)
    q.add_argument('--port', type=int, default=25)
    q.add_argument('--cert', required=True)
    q.add_argument('--host', default='mx.load.test')
    r = sub.add_parser('run')
    r.add_argument('--target', required=True)
    r.add_argument('--port', type=int, default=25)
    r.add_argument('--ctl-pid', type=int, required=True)
    r.add_argument('--sources', default='127.0.0.2-127.0.0.21')
    r.add_argument('--held', type=int, default=1000)
    r.add_argument('--ramp', type=int, default=50)
    r.add_argument('--keepalive', type=float, default=2.0)
    r.add_argument('--slow', type=int, default=500)
    r.add_argument('--slow-interval', type=float, default=3.0)
    r.add_argument('--slow-wait', type=float, default=60.0)
    r.add_argument('--fresh', type=int, default=5)
    r.add_argument('--per-source-cap', type=int, default=0)
    r.add_argument('--cap-source', default='127.0.0.250')
    r.add_argument('--long-line', type=int, default=0)
    r.add_argument('--json')
    a = p.parse_args()
    try:
        asyncio.run(partner(a) if a.cmd == 'partner' else run(a))
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
