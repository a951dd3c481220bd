# tests/bats/lib/pki.bash — a throw-away test PKI (EC P-256, openssl).
#
#   load lib/pki
#   sl_pki_init [DIR]            DIR (default $BATS_FILE_TMPDIR/pki, else $T/pki)
#                                becomes $SL_PKI; creates two CAs:
#                                  ca    — the test CA partners' certificates chain to
#                                  evil  — an unrelated CA ("unknown CA" tests)
#   sl_pki_ca NAME               one more self-signed CA: $SL_PKI/NAME.{crt,key}
#   sl_pki_server NAME CA DNS... server certificate signed by CA with
#                                SAN = the DNS names (an entry "IP:addr" adds an
#                                IP SAN); CN = the first name
#   sl_pki_client NAME CA [CN]   client certificate (extendedKeyUsage clientAuth)
#   sl_pki_selfsigned NAME DNS...  a self-signed leaf (no CA at all)
#
# Every leaf NAME gives $SL_PKI/NAME.crt (leaf only), NAME.key (PKCS#8, 0600),
# NAME.chain.pem (leaf + issuing CA) and NAME.pem (key + leaf + CA: what
# Postfix's *_tls_chain_files and smtplock's cert/key options take).
# sl_pki_{crt,key,pem} NAME print those paths.
#
#   sl_pki_pin_cert FILE [colons]   sha256:<hex> of the certificate's DER
#   sl_pki_pin_spki FILE [colons]   sha256:<hex> of its SubjectPublicKeyInfo DER
#                                   (lower-case hex; with "colons": upper-case
#                                   AA:BB:… as `openssl x509 -fingerprint` prints)
#   sl_pki_tlsa_hex FILE SELECTOR   hex for a TLSA record, matching type 1
#                                   (SHA-256): selector 0 = cert, 1 = SPKI
#
# Keys are EC P-256 and leaves are valid for 30 days (SL_PKI_DAYS to change;
# SL_PKI_EXT_EXTRA adds extension lines to server certificates); a whole init with a
# few leaves takes well under a second.

sl_pki_init() {
	SL_PKI=${1:-${BATS_FILE_TMPDIR:-$T}/pki}
	export SL_PKI
	mkdir -p "$SL_PKI"
	[ -f "$SL_PKI/ca.crt" ] || sl_pki_ca ca
	[ -f "$SL_PKI/evil.crt" ] || sl_pki_ca evil
}

_sl_pki_key() {		# _sl_pki_key FILE: a new EC P-256 key
	(umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$1" 2>/dev/null)
}

sl_pki_ca() {
	local n=$1 d=$SL_PKI
	_sl_pki_key "$d/$n.key" || return 1
	openssl req -new -x509 -key "$d/$n.key" -out "$d/$n.crt" -days 30 \
		-subj "/O=smtplock test/CN=smtplock test CA $n" -sha256 \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign \
		-addext subjectKeyIdentifier=hash 2>/dev/null
}

# _sl_pki_leaf NAME CA EXTFILE SUBJECT: sign a new key's CSR with CA.
_sl_pki_leaf() {
	local n=$1 ca=$2 ext=$3 subj=$4 d=$SL_PKI
	_sl_pki_key "$d/$n.key" || return 1
	openssl req -new -key "$d/$n.key" -subj "$subj" -out "$d/$n.csr" 2>/dev/null &&
	openssl x509 -req -in "$d/$n.csr" -CA "$d/$ca.crt" -CAkey "$d/$ca.key" \
		-set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
		-days "${SL_PKI_DAYS:-30}" -sha256 -extfile "$ext" \
		-out "$d/$n.crt" 2>/dev/null || return 1
	rm -f "$d/$n.csr"
	cat "$d/$n.crt" "$d/$ca.crt" >"$d/$n.chain.pem"
	cat "$d/$n.key" "$d/$n.chain.pem" >"$d/$n.pem"
	chmod 600 "$d/$n.pem"
}

_sl_pki_san() {		# _sl_pki_san NAME...: "DNS:a,DNS:b,IP:c"
	local s='' x
	for x in "$@"; do
		case $x in
		IP:*) s="$s,$x" ;;
		*)    s="$s,DNS:$x" ;;
		esac
	done
	printf '%s' "${s#,}"
}

sl_pki_server() {
	local n=$1 ca=$2; shift 2
	local ext=$SL_PKI/$n.ext
	cat >"$ext" <<-EXT
	basicConstraints=critical,CA:FALSE
	keyUsage=critical,digitalSignature
	extendedKeyUsage=serverAuth,clientAuth
	subjectAltName=$(_sl_pki_san "$@")
	EXT
	[ -z "${SL_PKI_EXT_EXTRA:-}" ] || printf '%s\n' "$SL_PKI_EXT_EXTRA" >>"$ext"
	_sl_pki_leaf "$n" "$ca" "$ext" "/O=smtplock test/CN=${1#IP:}"
}

sl_pki_client() {
	local n=$1 ca=$2 cn=${3:-$1}
	local ext=$SL_PKI/$n.ext
	cat >"$ext" <<-EXT
	basicConstraints=critical,CA:FALSE
	keyUsage=critical,digitalSignature
	extendedKeyUsage=clientAuth
	EXT
	_sl_pki_leaf "$n" "$ca" "$ext" "/O=smtplock test/CN=$cn"
}

sl_pki_selfsigned() {
	local n=$1; shift
	local d=$SL_PKI
	_sl_pki_key "$d/$n.key" || return 1
	openssl req -new -x509 -key "$d/$n.key" -out "$d/$n.crt" -days 30 -sha256 \
		-subj "/O=smtplock test/CN=$1" \
		-addext "subjectAltName=$(_sl_pki_san "$@")" 2>/dev/null || return 1
	cp "$d/$n.crt" "$d/$n.chain.pem"
	cat "$d/$n.key" "$d/$n.crt" >"$d/$n.pem"
	chmod 600 "$d/$n.pem"
}

sl_pki_crt() { printf '%s\n' "$SL_PKI/$1.crt"; }
sl_pki_key() { printf '%s\n' "$SL_PKI/$1.key"; }
sl_pki_pem() { printf '%s\n' "$SL_PKI/$1.pem"; }

_sl_pki_fmt() {		# _sl_pki_fmt [colons] < "hex  -": sha256:…
	local h
	h=$(cut -d' ' -f1)
	[ ${#h} = 64 ] || return 1
	if [ "${1:-}" = colons ]; then
		h=$(printf '%s' "$h" | tr a-f A-F | sed 's/../&:/g; s/:$//')
	fi
	printf 'sha256:%s\n' "$h"
}

sl_pki_pin_cert() {
	openssl x509 -in "$1" -outform DER | sha256sum | _sl_pki_fmt "${2:-}"
}

sl_pki_pin_spki() {
	openssl x509 -in "$1" -pubkey -noout |
		openssl pkey -pubin -outform DER | sha256sum | _sl_pki_fmt "${2:-}"
}

sl_pki_tlsa_hex() {
	local p
	case $2 in
	0) p=$(sl_pki_pin_cert "$1") ;;
	1) p=$(sl_pki_pin_spki "$1") ;;
	*) return 1 ;;
	esac || return 1
	printf '%s\n' "${p#sha256:}"
}
