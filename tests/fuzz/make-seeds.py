#!/usr/bin/env python3
"""Write the seed corpora under tests/fuzz/corpus/<harness>/.

Seeds are transcripts in the shape real servers send them (Postfix, Exim,
Exchange, Sendmail, OpenSMTPD, Gmail-style multi-line deferrals), AUTH
exchanges and PROXY headers.  Run from anywhere; existing files with the
same names are rewritten, other files (crash regressions) are left alone.
"""
import base64
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(harness, name, data):
    d = os.path.join(HERE, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("latin-1")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def crlf(*lines):
    return "".join(l + "\r\n" for l in lines)


POSTFIX_PRE = crlf(
    "250-mx1.partner.example", "250-PIPELINING", "250-SIZE 10240000", "250-VRFY",
    "250-ETRN", "250-STARTTLS", "250-ENHANCEDSTATUSCODES", "250-8BITMIME", "250-DSN",
    "250-SMTPUTF8", "250 CHUNKING")
POSTFIX_POST = crlf(
    "250-mx1.partner.example", "250-PIPELINING", "250-SIZE 10240000", "250-VRFY",
    "250-ETRN", "250-AUTH PLAIN LOGIN SCRAM-SHA-256", "250-AUTH=PLAIN LOGIN",
    "250-ENHANCEDSTATUSCODES", "250-8BITMIME", "250-DSN", "250-SMTPUTF8", "250 CHUNKING")
POSTFIX_XCLIENT = crlf(
    "250-mx.partner.example", "250-PIPELINING", "250-SIZE 10240000",
    "250-XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT",
    "250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT", "250-ENHANCEDSTATUSCODES",
    "250 8BITMIME")
EXIM = crlf(
    "250-mail.partner.example Hello relay.example [192.0.2.1]", "250-SIZE 52428800",
    "250-8BITMIME", "250-PIPELINING", "250-PIPECONNECT", "250-AUTH PLAIN LOGIN",
    "250-CHUNKING", "250-STARTTLS", "250-PRDR", "250 HELP")
EXCHANGE = crlf(
    "250-EX01.partner.example Hello [192.0.2.7]", "250-SIZE 37748736", "250-PIPELINING",
    "250-DSN", "250-ENHANCEDSTATUSCODES", "250-STARTTLS", "250-X-ANONYMOUSTLS",
    "250-AUTH NTLM", "250-X-EXPS GSSAPI NTLM", "250-8BITMIME", "250-BINARYMIME",
    "250-CHUNKING", "250 XRDST")
EXCHANGE_2003 = crlf(
    "250-ex2003.partner.example Hello [192.0.2.7]", "250-TURN", "250-SIZE",
    "250-ETRN", "250-PIPELINING", "250-DSN", "250-ENHANCEDSTATUSCODES", "250-8bitmime",
    "250-BINARYMIME", "250-CHUNKING", "250-VRFY", "250-X-EXPS GSSAPI NTLM LOGIN",
    "250-X-EXPS=LOGIN", "250-AUTH GSSAPI NTLM LOGIN", "250-AUTH=LOGIN",
    "250-X-LINK2STATE", "250-XEXCH50", "250 OK")
SENDMAIL = crlf(
    "250-mail.partner.example Hello relay [192.0.2.1], pleased to meet you",
    "250-ENHANCEDSTATUSCODES", "250-PIPELINING", "250-8BITMIME", "250-SIZE", "250-DSN",
    "250-ETRN", "250-AUTH DIGEST-MD5 CRAM-MD5", "250-STARTTLS", "250-DELIVERBY",
    "250 HELP")
OPENSMTPD = crlf(
    "250-mx.partner.example Hello relay.example [192.0.2.1], pleased to meet you",
    "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250-SIZE 36700160", "250-DSN",
    "250-AUTH PLAIN LOGIN", "250 HELP")
GMAIL_DEFER = crlf(
    "421-4.7.0 [192.0.2.1      15] Our system has detected an unusual rate of",
    "421-4.7.0 unsolicited mail originating from your IP address. To protect our",
    "421-4.7.0 users from spam, mail sent from your IP address has been temporarily",
    "421 4.7.0 rate limited. https://support.example/mail/?p=UnsolicitedRateLimitError - gsmtp")
TRANSACTION = crlf(
    "250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>",
    "250 2.0.0 Ok: queued as 4XyZ1234", "221 2.0.0 Bye")

# ---- reply parser: 2 selector bytes, then the partner's bytes ----
for name, sel, body in [
    ("postfix-session", b"\x07\x10",
     "220 mx1.partner.example ESMTP Postfix (Debian/GNU)\r\n" + POSTFIX_PRE +
     "220 2.0.0 Ready to start TLS\r\n"),
    ("postfix-after-tls", b"\x00\x00", POSTFIX_POST +
     "334 cj1meWtvK2QybGJiRmdPTlJ2OXFreGRhd0wzcmZjTkhZSlkxWlZ2V1ZzN2osczpRU1hDUitRNnNlazhiZjkyLGk9NDA5Ng==\r\n"
     "235 2.7.0 Authentication successful\r\n"),
    ("exim", b"\x03\x00",
     "220 mail.partner.example ESMTP Exim 4.96 Mon, 01 Jan 2024 12:00:00 +0000\r\n" + EXIM),
    ("exchange", b"\x3f\x01",
     "220 EX01.partner.example Microsoft ESMTP MAIL Service ready at Mon, 1 Jan 2024 12:00:00 +0000\r\n" + EXCHANGE),
    ("gmail-defer", b"\x00\x00", GMAIL_DEFER),
    ("transaction", b"\x01\x00", TRANSACTION),
    ("auth-login", b"\x00\x00", crlf("334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6",
                                    "535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6")),
    ("starttls-injection", b"\x3f\x00", "220 2.0.0 Ready to start TLS\r\n250-injected\r\n"),
    ("bare-lf", b"\x00\x10", "220 a\n250-b\n250 c\n"),
    ("garbage-code", b"\x00\x00", "2x0 nope\r\n"),
    ("code-mismatch", b"\x00\x00", "250-a\r\n251 b\r\n"),
    ("limits-small", b"\x00\x0e", "250-" + "a" * 60 + "\r\n250-b\r\n250-c\r\n250-d\r\n250 e\r\n"),
]:
    put("fuzz_smtp_reply", name, sel + body.encode("latin-1"))

# ---- EHLO: a partner's reply as is ----
for name, body in [
    ("postfix-pre-tls", POSTFIX_PRE), ("postfix-post-tls", POSTFIX_POST),
    ("postfix-xclient", POSTFIX_XCLIENT), ("exim", EXIM), ("exchange", EXCHANGE),
    ("exchange-2003", EXCHANGE_2003), ("sendmail", SENDMAIL), ("opensmtpd", OPENSMTPD),
    ("refused", "554 5.7.1 <relay.example>: Helo command rejected: Access denied\r\n"),
    ("greeting-only", "250 mx.partner.example\r\n"),
    ("cisco-mangled", crlf("250-mx.partner.example", "250-XXXXXXXA", "250-XXXXXXXXB",
                           "250 SIZE 1000")),
]:
    put("fuzz_ehlo", name, body)

# ---- inbound commands: flags byte, then the client's bytes ----
for name, body in [
    ("postfix-client", "\x00" + crlf("EHLO mx.partner.example", "STARTTLS")),
    ("after-tls-plain", "\x00" + crlf(
        "EHLO mx.partner.example", "AUTH PLAIN AHVzZXIAcGFzcw==",
        "MAIL FROM:<alice@partner.example> SIZE=1000 BODY=8BITMIME",
        "RCPT TO:<bob@example.org> NOTIFY=SUCCESS,FAILURE", "DATA", "QUIT")),
    ("auth-login", "\x00" + crlf("EHLO [192.0.2.7]", "AUTH LOGIN", "dXNlcg==", "cGFzcw==")),
    ("auth-login-ir", "\x00" + crlf("AUTH LOGIN dXNlcg==", "cGFzcw==")),
    ("auth-plain-challenge", "\x00" + crlf("AUTH PLAIN", "YWRtaW4AdXNlcgBwYXNz")),
    ("auth-cancel", "\x00" + crlf("AUTH PLAIN", "*")),
    ("exchange-client", "\x00" + crlf("EHLO EX01.partner.example", "STARTTLS")),
    ("helo-bare-lf", "\x01HELO [192.0.2.1]\nNOOP\nRSET\nQUIT\n"),
    ("ipv6-bdat", "\x00" + crlf("EHLO [IPv6:2001:db8::1]", "BDAT 100 LAST", "VRFY postmaster",
                                "EXPN list", "HELP")),
    ("starttls-pipelined", "\x00" + crlf("STARTTLS", "MAIL FROM:<x@y.example>")),
    ("http", "\x00" + crlf("GET / HTTP/1.1", "Host: mx.example.org", "")),
]:
    put("fuzz_smtp_cmd", name, body)

# ---- SASL: selector byte, then data ----
NONCE = "fyko+d2lbbFgONRv9qkxdawL"
SFIRST = "r=" + NONCE + "3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
for name, body in [
    ("plain", "\x00AHVzZXIAcGFzcw=="),
    ("plain-authzid", "\x00YWRtaW4AdXNlcgBwYXNz"),
    ("plain-empty", "\x00="),
    ("plain-long", "\x00" + base64.b64encode(b"\0" + b"u" * 255 + b"\0" + b"p" * 255).decode()),
    ("scram-first", "\x01" + SFIRST),
    ("scram-first-ext", "\x01" + SFIRST + ",x=ext"),
    ("scram-first-m", "\x01m=ext," + SFIRST),
    ("scram-final", "\x01v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
    ("scram-error", "\x01e=invalid-proof"),
    ("scram-client", "\x02" + SFIRST + "\nv=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=\n\x00\x35"),
    ("scram-client-e", "\x02" + SFIRST + "\ne=other-error\n\x01\x00"),
    ("b64", "\x03YWJjZA=="),
    ("mechs", "\x04PLAIN LOGIN SCRAM-SHA-256 CRAM-MD5 XOAUTH2"),
]:
    put("fuzz_sasl", name, body)

# ---- PROXY: byte 0 even = decode the rest, odd = endpoints to emit ----
SIG = b"\r\n\r\n\x00\r\nQUIT\n"
v2_4 = SIG + b"\x21\x11\x00\x0c" + bytes([192, 0, 2, 10, 198, 51, 100, 25]) + struct.pack(">HH", 40000, 25)
v2_6 = (SIG + b"\x21\x21\x00\x24" + bytes.fromhex("20010db8000000000000000000000010") +
        bytes.fromhex("20010db8000100000000000000000025") + struct.pack(">HH", 40000, 25))
v2_tlv = (SIG + b"\x21\x11\x00\x17" + bytes([10, 1, 2, 3, 10, 0, 0, 1]) + struct.pack(">HH", 1234, 25) +
          b"\x01\x00\x02h2" + b"\x04\x00\x03abc")
for name, body in [
    ("v1-tcp4", b"\x00PROXY TCP4 192.0.2.10 198.51.100.25 40000 25\r\nEHLO x\r\n"),
    ("v1-tcp6", b"\x00PROXY TCP6 2001:db8::10 2001:db8:1::25 40000 25\r\n"),
    ("v1-unknown", b"\x00PROXY UNKNOWN\r\n"),
    ("v2-tcp4", b"\x00" + v2_4),
    ("v2-tcp6", b"\x00" + v2_6),
    ("v2-tlv", b"\x00" + v2_tlv),
    ("v2-local", b"\x00" + SIG + b"\x20\x00\x00\x00"),
    ("emit-4-4", b"\x01\x00" + bytes([192, 0, 2, 10]) + b"\x9c\x40" + b"\0" * 12 +
     bytes([198, 51, 100, 25]) + b"\x00\x19" + b"\0" * 12 + b"mx.partner.example"),
    ("emit-6-6", b"\x01\x03" + bytes.fromhex("20010db8000000000000000000000010") + b"\x9c\x40" +
     bytes.fromhex("20010db8000100000000000000000025") + b"\x00\x19" + b"odd helo=a+b\x01"),
    ("emit-mapped", b"\x01\x0d" + bytes.fromhex("00000000000000000000ffffc000020a") + b"\x00\x19" +
     bytes([10, 0, 0, 1]) + b"\x00\x19" + b"\0" * 12 + b"[IPv6:2001:db8::1]"),
]:
    put("fuzz_proxy", name, body)

# ---- policy: byte 0 even = the main file, odd = a drop-in (main file fixed)
# Paths are relative: the harness's directory holds ca.crt, cert.pem,
# key.pem, pass (0600) and open.pass (0644, refused).
POLICY_FULL = """version: 1
controller:
  hostname: mail.example.org
  listen: [127.0.0.1:10025, "[::1]:10025"]
  cgroup: auto
  pin_path: /sys/fs/bpf/smtplock
  control_socket: /run/smtplock/control
  user: smtplock
  group: smtplock
  limits: { max_sessions: 1000, max_sessions_per_source: 100, timeout: 5m }
defaults:
  mode: enforce
  ports: [25, 587]
  on_failure: defer
  tls: { min_version: "1.2", verify: ca, ca_file: ca.crt, ktls: preferred }
partners:
  - domain: ntsol.com
    direction: both
    mx: [mx1.ntsol.com, mx2.ntsol.com]
    addresses: [192.0.2.10, "2001:db8::/64"]
    tls:
      min_version: "1.3"
      verify: fingerprint
      fingerprints: ["sha256:9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08"]
      client_cert: cert.pem
      client_key: key.pem
      ciphers: "ECDHE+AESGCM"
      ciphersuites: "TLS_AES_256_GCM_SHA384"
    auth:
      username: 'INTELLINET\\DOUG'
      password_file: pass
      mechanisms: [SCRAM-SHA-256, PLAIN, LOGIN]
    inbound:
      sources: [198.51.100.0/24, mx]
      require: [tls, auth, client_cert]
      min_version: "1.2"
      accounts: [{ username: NTSOL, password_hash: "$6$rounds=5000$saltsalt$yXc0gQkXYrU8bHb7bMF4JqJL6WDXvrTB9wiWN8mKYrDN0eG7zjDkN8H0JW2/PSqsvp4XYRtt6d3KEaJvTs3R41" }]
      client_ca_file: ca.crt
  - domain: bank.example
    mode: testing
    tls: { verify: dane }
  - domain: lists.example
    on_failure: reject
    tls: { verify: none, ktls: off }
inbound:
  listen: "[::]:10026"
  backend: 127.0.0.1:25
  announce: proxy-v2
  port: 25
  cert: cert.pem
  key: key.pem
"""
for name, body in [
    ("main-full", "\x00" + POLICY_FULL),
    ("main-minimal", "\x00version: 1\ncontroller: { hostname: mx.example.org }\n"
     "defaults: { tls: { verify: none } }\n"),
    ("main-flow", "\x00{version: 1, controller: {hostname: a.example}, partners: "
     "[{domain: b.example, addresses: [192.0.2.0/24], tls: {verify: none}}]}\n"),
    ("main-anchors", "\x00version: 1\ncontroller: {hostname: a.example}\n"
     "defaults: &d { tls: { verify: none } }\npartners:\n  - domain: b.example\n    <<: *d\n"),
    ("main-open-secret", "\x00version: 1\ncontroller: {hostname: a.example}\n"
     "partners:\n  - domain: b.example\n    tls: {verify: none}\n"
     "    auth: {username: u, password_file: open.pass}\n"),
    ("dropin-partner", "\x01domain: ntsol.com\nmx: [mx1.ntsol.com]\ntls: { verify: none }\n"
     "auth: { username: DOUG, password_file: ../pass, mechanisms: [PLAIN] }\n"),
    ("dropin-inbound", "\x01domain: in.example\ndirection: inbound\n"
     "inbound: { sources: [203.0.113.7/32], require: [tls] }\n"),
    ("dropin-dup", "\x01domain: BASE.example.\n"),
]:
    put("fuzz_policy", name, body)

# ---- outbound session: byte 0 flags (1 testing, 2 reject, 4 no auth,
# 8 probe, 16 tagging fails), bytes 1-2 length of the partner's part (LE),
# the partner's bytes, then the MTA's.
def ob(flags, partner, mta=""):
    p = partner.encode("latin-1")
    return bytes([flags]) + struct.pack("<H", len(p)) + p + mta.encode("latin-1")


MTA_TX = crlf("EHLO mta.example", "MAIL FROM:<a@example.org>", "RCPT TO:<doug@partner.example>",
              "DATA", "Subject: hi", "", "body", ".", "QUIT")
GREET = crlf("220 mx1.partner.example ESMTP Postfix")
for name, body in [
    ("postfix-starttls", ob(0, GREET + POSTFIX_PRE + crlf("220 2.0.0 Ready to start TLS"))),
    ("exchange-starttls", ob(0, crlf("220 EX01.partner.example Microsoft ESMTP MAIL Service ready") +
                            EXCHANGE + crlf("220 2.0.0 SMTP server ready"), MTA_TX)),
    ("exim-starttls", ob(2, crlf("220 mail.partner.example ESMTP Exim 4.96") + EXIM +
                         crlf("220 TLS go ahead"), MTA_TX)),
    ("no-starttls", ob(0, GREET + crlf("250-mx1.partner.example", "250 8BITMIME"), MTA_TX)),
    ("no-starttls-reject", ob(2, GREET + crlf("250-mx1.partner.example", "250 8BITMIME"), MTA_TX)),
    ("testing-plain", ob(1, GREET + crlf("250-mx1.partner.example", "250-PIPELINING", "250 8BITMIME",
                                         "250 2.1.0 Ok", "250 2.1.5 Ok", "354 go",
                                         "250 2.0.0 queued", "221 Bye"), MTA_TX)),
    ("testing-refused", ob(1, GREET + POSTFIX_PRE + crlf("454 4.7.0 TLS not available") +
                           crlf("250-mx1.partner.example", "250 8BITMIME", "250 ok", "250 ok",
                                "354 go", "250 ok", "221 bye"), MTA_TX)),
    ("inject-pre", ob(0, GREET + POSTFIX_PRE + crlf("220 2.0.0 go ahead"))),
    ("inject-post", ob(0, GREET + POSTFIX_PRE + crlf("220 2.0.0 Ready", "250 injected"))),
    ("greet-554", ob(0, crlf("554 5.7.1 go away"), MTA_TX)),
    ("greet-multiline", ob(0, crlf("220-mx1.partner.example ESMTP", "220-no UCE",
                                   "220 ready") + POSTFIX_PRE, MTA_TX)),
    ("probe", ob(8, GREET + POSTFIX_PRE + crlf("220 2.0.0 Ready to start TLS"))),
    ("tag-fails", ob(16, GREET)),
    ("garbage-tls", ob(0, GREET + POSTFIX_PRE + crlf("220 2.0.0 Ready") +
                       "\x16\x03\x03\x00\x05\x02\x00\x00\x01\x00")),
]:
    put("fuzz_outbound", name, body)

# ---- inbound session: byte 0 flags (1 client_cert instead of auth,
# 2 xclient instead of proxy-v2), then what the partner sends.
for name, body in [
    ("postfix-client", "\x00" + crlf("EHLO mail.ntsol.example", "STARTTLS")),
    ("pipelined-starttls", "\x00" + crlf("EHLO a", "STARTTLS", "MAIL FROM:<x@y>")),
    ("mail-before-tls", "\x00" + crlf("EHLO a", "MAIL FROM:<x@y>", "RCPT TO:<doug@us>", "DATA",
                                     "BDAT 10 LAST", "QUIT")),
    ("auth-before-tls", "\x00" + crlf("EHLO a", "AUTH PLAIN AE5UU09MAHNlY3JldA==", "AUTH LOGIN",
                                     "NOOP", "RSET", "VRFY doug", "HELP", "QUIT")),
    ("helo-only", "\x01" + crlf("HELO a", "STARTTLS", "")),
    ("bare-lf", "\x02EHLO a\nSTARTTLS\n"),
    ("long-line", "\x00EHLO " + "a" * 1200 + "\r\nQUIT\r\n"),
    ("starttls-hello", "\x00" + crlf("EHLO a", "STARTTLS") +
     "\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03" + "\x00" * 32 + "\x00\x00\x02\x13\x01\x01\x00"),
    ("starttls-twice", "\x00" + crlf("EHLO a", "STARTTLS extra", "STARTTLS")),
]:
    put("fuzz_inbound", name, body)
