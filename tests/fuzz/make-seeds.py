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
