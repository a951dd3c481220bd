# tests/bats/lib/capture.bash — what crossed the wire, from a packet capture.
#
# Capture with helper.bash's sl_capture_start NS IFACE FILE [FILTER] /
# sl_capture_stop (tcpdump on the partner's side: $NS_P $VETH_P).  These read
# the file (capture_scan.py: a pcap reader, ten times quicker than tshark's
# start-up) and reassemble every TCP connection, each direction separately,
# so a text split across segments is still found.  (helper.bash's
# sl_capture_has_text looks at one segment at a time.)
#
#   load lib/capture
#   sl_capture_scan FILE TEXT...     "<flows containing TEXT>\tTEXT" per TEXT
#                                    (case-insensitive), then "bytes\t<total
#                                    payload bytes>"
#   sl_capture_scan -s FILE TEXT...  the same per single segment, without
#                                    reassembly (proof that a text was split)
#   sl_capture_count FILE TEXT       how many flows carry TEXT in cleartext
#   sl_capture_bytes FILE            TCP payload bytes in the capture
#   sl_capture_clean FILE TEXT...    true when the capture holds payload (an
#                                    empty capture proves nothing: it fails)
#                                    and none of the TEXTs appears in clear;
#                                    by default the TEXTs are "MAIL FROM" and
#                                    "RCPT TO" and the caller adds markers:
#                                      sl_capture_clean "$T/cap.pcap" $MARKERS
#                                    prints what it found when it fails
#   sl_capture_tls_versions FILE     TLS versions the handshakes settled on
#                                    (one line per ServerHello; tshark)

SL_CAPTURE_LIB=${BASH_SOURCE[0]%/*}
SL_PY=${SL_PY:-/usr/bin/python3}

sl_capture_scan() {
	local -a o=(-i)
	[ "${1:-}" = -s ] && { o+=(-s); shift; }
	"$SL_PY" "$SL_CAPTURE_LIB/capture_scan.py" "${o[@]}" "$@"
}

sl_capture_count() {
	sl_capture_scan "$1" "$2" | head -n1 | cut -f1
}

sl_capture_bytes() {
	sl_capture_scan "$1" | awk -F'\t' '$1 == "bytes" { print $2 }'
}

sl_capture_clean() {
	local f=$1 out bytes found; shift
	out=$(sl_capture_scan "$f" "MAIL FROM" "RCPT TO" "$@") || return 1
	bytes=$(awk -F'\t' '$1 == "bytes" { print $2 }' <<<"$out")
	if [ "${bytes:-0}" -eq 0 ]; then
		echo "capture $f holds no TCP payload: it proves nothing" >&2
		return 1
	fi
	found=$(awk -F'\t' '$1 != "bytes" && $1 > 0 { print "  in clear in " $1 " flow(s): " $2 }' <<<"$out")
	if [ -n "$found" ]; then
		printf 'capture %s:\n%s\n' "$f" "$found" >&2
		return 1
	fi
}

sl_capture_tls_versions() {
	tshark -r "$1" -Y 'tls.handshake.type == 2' -T fields \
		-e tls.handshake.extensions.supported_version -e tls.handshake.version \
		2>/dev/null | awk '{
			v = ($1 != "" ? $1 : $2)
			n = split("0x0301 TLSv1 0x0302 TLSv1.1 0x0303 TLSv1.2 0x0304 TLSv1.3", m, " ")
			for (i = 1; i < n; i += 2) if (v == m[i]) v = m[i + 1]
			print v
		}'
}
