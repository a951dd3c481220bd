# tests/bats/lib/postfix.bash — real Postfix instances for the test bed.
#
# Every instance NAME lives in $SL_PF_ROOT/NAME/ (etc/ = its -c config dir,
# spool/ = queue, data/, mail/ = maildirs, maillog) and runs in a network
# namespace, started with `ip netns exec` so it sees /etc/netns/NS/resolv.conf
# (lib/dns).  No chroot anywhere, logging to NAME/maillog, short queue timers
# (queue_run_delay 1s, backoff 1s..4s), connect timeout 2s.  Start them in
# setup_file (≈0.3 s each), sl_pf_cleanup in teardown_file.
#
#   load lib/pki; load lib/dns; load lib/postfix
#
# Builders (write the config; start with sl_pf_start NAME).  Trailing
# KEY=VALUE arguments are the builder's options below, or any Postfix
# main.cf parameter, set last (so they win).
#
#   sl_pf_sender NAME [opts]     an MTA that sends by MX lookup through DNS,
#                                no smtpd (nothing listens).  Options:
#       ns=NS          namespace (default $NS_H)
#       cgroup=yes|no  start the master inside $SL_CG (default: yes in $NS_H,
#                      no elsewhere; sl_cg_up first) — every smtp client
#                      inherits it, so smtplock's BPF programs see them
#       host=FQDN      myhostname (default NAME.sender.test)
#       tls=LEVEL      smtp_tls_security_level: none (default) | may |
#                      encrypt | verify | secure | dane
#       ca=FILE        smtp_tls_CAfile (default the test CA if sl_pki_init ran)
#       sasl=USER:PASS smtp_sasl_auth_enable with this account for every host
#       mechs="M..."   smtp_sasl_mechanism_filter (e.g. SCRAM-SHA-256)
#       ccert=LEAF     client certificate: $SL_PKI/LEAF.pem
#       soft_bounce=yes  5xx replies defer instead of bouncing
#     With no options it has NO TLS or SASL settings of its own: the sender
#     smtplock protects.
#
#   sl_pf_partner NAME ADDRS DOMAINS [opts]   a partner MX: smtpd on port 25
#                                of each address (comma list, v4 and v6; add
#                                them first with sl_net_addr), delivering mail
#                                for DOMAINS (comma list) to one maildir.  By
#                                default strict: STARTTLS required
#                                (smtpd_tls_security_level=encrypt), AUTH
#                                required (Cyrus SASL, sasldb2, mechanisms
#                                PLAIN LOGIN SCRAM-SHA-256), mail accepted only
#                                from authenticated clients, relays nothing.
#       ns=NS          namespace (default $NS_P)
#       host=FQDN      myhostname / banner name (default mx.<first domain>)
#     and the listener options (also for sl_pf_listen):
#       cert=LEAF      server certificate (default: pf-NAME, made from CA
#                      "ca" for host); a leaf of CA "evil" for the unknown-CA
#                      partner
#       tls=encrypt|may|none   none: STARTTLS is not offered at all
#       tls_max=1.2    highest TLS version it speaks (TLS 1.2-only partner)
#       tls_min=1.3    lowest version it accepts
#       auth=yes|no|ccert  yes: AUTH required (default); no: anyone may send
#                      to DOMAINS (with tls=none: a plain test server);
#                      ccert: a verified client certificate OR AUTH
#       user=U pass=P  the account (default smtplock / $SL_PF_PASS); more
#                      with sl_pf_user
#       mechs="M..."   Cyrus mech_list (default "PLAIN LOGIN SCRAM-SHA-256")
#       ccert=require  a client certificate verified against ccert_ca=FILE
#                      (default the test CA) is required for the handshake
#       port=N         listen port (default 25)
#
#   sl_pf_listen NAME LABEL ADDRS [listener opts]   one more smtpd of partner
#                                NAME with other settings: several partner
#                                variants (no STARTTLS, TLS 1.2 only, unknown
#                                CA, other password, mTLS) in one Postfix, each
#                                on its own addresses.  It logs as
#                                postfix/LABEL/smtpd and has its own accounts;
#                                mail for all of them lands in NAME's maildir
#                                (give each variant its own domain and count
#                                with sl_pf_mbox_count NAME DOMAIN).  Reloads a
#                                running partner.
#
#   sl_pf_receiver NAME DOMAINS [opts]   OUR receiving MTA (inbound tests):
#                                smtpd on $H4:25 and [$H6]:25 (addrs=LIST),
#                                plus 127.0.0.1:10027 with
#                                smtpd_upstream_proxy_protocol=haproxy
#                                (proxy=ADDR:PORT) and 127.0.0.1:10028 with
#                                XCLIENT allowed from 127.0.0.0/8
#                                (xclient=ADDR:PORT); accepts mail for DOMAINS
#                                from anyone, no TLS (tls=may cert=LEAF to
#                                offer it), delivers to maildirs; its maillog
#                                shows the client address it believes.
#       ns=NS (default $NS_H), host=FQDN (default mx.<first domain>)
#
#   A partner-side sender (for inbound tests) is sl_pf_sender with
#   ns=$NS_P tls=encrypt sasl=USER:PASS (or ccert=LEAF).
#
# Life cycle:
#   sl_pf_start NAME             start; records the master's PID (NAME/master.pid
#                                and the bg list); fails with the log if not up
#   sl_pf_start_all NAME...      start several in parallel
#   sl_pf_stop NAME              postfix stop, then waits until the master and
#                                every process of that instance are gone
#   sl_pf_reload NAME            postfix reload (after sl_pf_conf)
#   sl_pf_conf NAME K=V...       set main.cf parameters (postconf -e)
#   sl_pf_running NAME           true while the master lives
#   sl_pf_master_pid NAME        its PID
#   sl_pf_cleanup                stop every instance, remove $SL_PF_ROOT
#   sl_pf_cmd NAME CMD ARGS...   run a Postfix command (postqueue, postsuper,
#                                postconf, sendmail, …) on that instance
#   sl_pf_log NAME               path of its maillog
#   sl_pf_user NAME USER PASS [LABEL]  add/replace a SASL account of a
#                                partner's listener (default: the first)
#
# Mail:
#   sl_pf_send NAME COUNT FROM TO [SIZE]   COUNT messages through NAME's
#                                sendmail; SIZE = bytes or 10k, 1m, 5m, 50m
#                                (default: a short body).  Prints one marker
#                                per message (in Subject, Message-ID and the
#                                body's first line) and records it in
#                                $SL_PF_ROOT/sent.tsv with the body checksum.
#   sl_pf_queue NAME             one line per queued recipient:
#                                QUEUE<TAB>QUEUE_ID<TAB>RECIPIENT<TAB>REASON
#   sl_pf_queue_count NAME [Q]   messages queued (in queue Q only)
#   sl_pf_flush NAME             postqueue -f
#   sl_pf_purge NAME             postsuper -d ALL
#   sl_pf_wait_empty NAME SECS   until nothing is queued
#   sl_pf_wait_deferred NAME N ERE SECS   until ≥ N queued messages carry a
#                                delay reason matching ERE (grep -E); such mail
#                                moves between the deferred, incoming and active
#                                queues as Postfix retries it
#   sl_pf_mbox_count NAME [DOMAIN]  messages delivered into NAME's maildir
#                                (only those for DOMAIN)
#   sl_pf_wait_mbox NAME N SECS [DOMAIN]  until ≥ N messages are delivered
#   sl_pf_mbox_find NAME MARKER  path of the delivered message with MARKER
#   sl_pf_wait_marker NAME MARKER SECS  until that message is delivered
#   sl_pf_mbox_intact NAME MARKER  it arrived (waiting up to $SL_PF_MBOX_WAIT,
#                                default 10 s) and its body is byte-for-byte
#                                what sl_pf_send sent (checksum)

SL_PF_PASS=${SL_PF_PASS:-'tEst-pAss 1'}

# ---- instance directories ----------------------------------------------------
# Postfix processes drop to the postfix user (and the virtual delivery agent
# to nobody) and need to traverse the path to the sasldb and the maildirs,
# which bats' 0700 tmpdirs would forbid: one 0755 root of our own per file.
_sl_pf_root() {
	if [ -z "${SL_PF_ROOT:-}" ] || [ ! -d "$SL_PF_ROOT" ]; then
		SL_PF_ROOT=$(mktemp -d "/tmp/slt${SLT_ID}pf.XXXXXX") || return 1
		chmod 755 "$SL_PF_ROOT"
		export SL_PF_ROOT
		: >"$SL_PF_ROOT/sent.tsv"
	fi
}

_sl_pf_dir() { printf '%s\n' "$SL_PF_ROOT/$1"; }

# _sl_pf_new NAME NS: the common skeleton of every instance.
_sl_pf_new() {
	local n=$1 ns=$2 d
	_sl_pf_root || return 1
	d=$SL_PF_ROOT/$n
	[ -e "$d/master.pid" ] && sl_pf_stop "$n"
	rm -rf "$d"
	mkdir -p "$d/etc" "$d/mail"
	_sl_pf_spool "$d"
	chown nobody:nogroup "$d/mail"
	echo "$ns" >"$d/ns"
	echo no >"$d/cgroup"
	cat >"$d/etc/main.cf" <<-EOF
	# smtplock test bed instance $n (tests/bats/lib/postfix.bash)
	compatibility_level = 3.6
	queue_directory = $d/spool
	data_directory = $d/data
	mail_owner = postfix
	setgid_group = postdrop
	maillog_file_prefixes = /tmp, /var
	maillog_file = $d/maillog
	inet_protocols = all
	mynetworks = 127.0.0.0/8 [::1]/128
	mydestination =
	relay_domains =
	alias_maps =
	alias_database =
	local_recipient_maps =
	local_transport = error:5.1.1 no local delivery in the test bed
	biff = no
	append_dot_mydomain = no
	smtpd_peername_lookup = no
	message_size_limit = 209715200
	mailbox_size_limit = 0
	virtual_mailbox_limit = 0
	queue_run_delay = 1s
	minimal_backoff_time = 1s
	maximal_backoff_time = 4s
	maximal_queue_lifetime = 1d
	bounce_queue_lifetime = 1d
	delay_warning_time = 0
	smtp_connect_timeout = 2s
	smtp_helo_timeout = 30s
	smtp_host_lookup = dns
	disable_dns_lookups = no
	smtpd_banner = \$myhostname ESMTP
	smtp_tls_loglevel = 1
	smtpd_tls_loglevel = 1
	smtpd_tls_received_header = yes
	tls_random_source = dev:/dev/urandom
	EOF
	# Every service unchrooted: the smtp client must resolve through the
	# namespace's resolv.conf, and nothing is copied into a jail.
	cat >"$d/etc/master.cf" <<-'EOF'
	pickup    unix  n       -       n       60      1       pickup
	cleanup   unix  n       -       n       -       0       cleanup
	qmgr      unix  n       -       n       300     1       qmgr
	tlsmgr    unix  -       -       n       1000?   1       tlsmgr
	rewrite   unix  -       -       n       -       -       trivial-rewrite
	bounce    unix  -       -       n       -       0       bounce
	defer     unix  -       -       n       -       0       bounce
	trace     unix  -       -       n       -       0       bounce
	verify    unix  -       -       n       -       1       verify
	flush     unix  n       -       n       1000?   0       flush
	proxymap  unix  -       -       n       -       -       proxymap
	proxywrite unix -       -       n       -       1       proxymap
	smtp      unix  -       -       n       -       -       smtp
	relay     unix  -       -       n       -       -       smtp
	showq     unix  n       -       n       -       -       showq
	error     unix  -       -       n       -       -       error
	retry     unix  -       -       n       -       -       error
	discard   unix  -       -       n       -       -       discard
	virtual   unix  -       n       n       -       -       virtual
	anvil     unix  -       -       n       -       1       anvil
	scache    unix  -       -       n       -       1       scache
	postlog   unix-dgram n  -       n       -       1       postlogd
	EOF
}

# _sl_pf_spool DIR: the queue and data directories as postfix-files
# describes them, so that start-up can skip `postfix check` (quick-start):
# the check takes a second per start, the start itself a tenth.
_sl_pf_spool() {
	local q=$1/spool
	mkdir -p "$q/pid" "$1/data" "$q"/{active,bounce,corrupt,defer,deferred,flush,hold,incoming,private,saved,trace,maildrop,public}
	chown postfix "$1/data" "$q"/{active,bounce,corrupt,defer,deferred,flush,hold,incoming,private,saved,trace}
	chown postfix:postdrop "$q/maildrop" "$q/public"
	chmod 700 "$1/data" "$q"/{active,bounce,corrupt,defer,deferred,flush,hold,incoming,private,saved,trace}
	chmod 730 "$q/maildrop"
	chmod 710 "$q/public"
}

# _sl_pf_maildirs NAME DOMAINS: deliver mail for every address in DOMAINS into
# one maildir, mail/box/ (owned by nobody: no system users needed; the
# virtual agent refuses regexp substitutions, hence one box per instance;
# its Delivered-To: header tells recipients apart).
_sl_pf_maildirs() {
	local d=$SL_PF_ROOT/$1
	_sl_pf_set "$1" \
		"virtual_mailbox_domains=${2//,/ }" \
		"virtual_mailbox_base=$d/mail" \
		"virtual_mailbox_maps=static:box/" \
		"virtual_uid_maps=static:$(id -u nobody)" \
		"virtual_gid_maps=static:$(getent group nogroup | cut -d: -f3)" \
		"virtual_minimum_uid=1"
}

# _sl_pf_listen NAME ADDR PORT ARGS...: a master.cf smtpd line.
_sl_pf_listen() {
	local n=$1 a=$2 p=$3; shift 3
	a=${a#[}; a=${a%]}
	case $a in *:*) a="[$a]" ;; esac
	{
		printf '%s:%s inet n - n - - smtpd\n' "$a" "$p"
		local o
		for o in "$@"; do printf '  -o { %s = %s }\n' "${o%%=*}" "${o#*=}"; done
	} >>"$SL_PF_ROOT/$n/etc/master.cf"
}

sl_pf_conf() {
	local n=$1; shift
	[ $# -gt 0 ] || return 0
	postconf -c "$SL_PF_ROOT/$n/etc" -e "$@" && _sl_pf_settle "$n"
}

# _sl_pf_settle NAME: date main.cf and master.cf ten seconds back.  The
# postfix command waits, 300 ms at a time, until main.cf is a couple of
# seconds old (a guard against half-saved edits): nearly two seconds per
# start of a freshly written instance, for nothing.
_sl_pf_settle() {
	touch -d '-10 seconds' "$SL_PF_ROOT/$1/etc/main.cf" "$SL_PF_ROOT/$1/etc/master.cf"
}

# _sl_pf_set NAME K=V...: while a builder writes main.cf, append parameters
# (postconf costs a fork of a big binary per call); _sl_pf_commit then keeps
# the last value of each.
_sl_pf_set() {
	local n=$1 kv; shift
	for kv in "$@"; do
		printf '%s = %s\n' "${kv%%=*}" "${kv#*=}"
	done >>"$SL_PF_ROOT/$n/etc/main.cf"
}

_sl_pf_commit() {
	local f=$SL_PF_ROOT/$1/etc/main.cf
	awk '/^[a-z0-9_]+ = / { k = $1; v[k] = $0; if (!(k in seen)) { seen[k] = 1; order[++n] = k }; next }
		{ other[++m] = $0 }
		END { for (i = 1; i <= m; i++) print other[i]
		      for (i = 1; i <= n; i++) print v[order[i]] }' "$f" >"$f.new" &&
		mv "$f.new" "$f" && _sl_pf_settle "$1"
}

# _sl_pf_opts: split "key=value" arguments into the builder's options (the
# associative array named by $1, keys listed in $2) and Postfix parameters
# (the indexed array named by $3).
_sl_pf_opts() {
	local -n _o=$1 _p=$3
	local known=" $2 " a; shift 3
	for a in "$@"; do
		case $a in
		*=*) if [[ $known == *" ${a%%=*} "* ]]; then
			_o[${a%%=*}]=${a#*=}
		     else
			_p+=("$a")
		     fi ;;
		*) echo "postfix.bash: bad option '$a'" >&2; return 2 ;;
		esac
	done
}

# ---- builders ----------------------------------------------------------------
sl_pf_sender() {
	local n=$1; shift
	local -A o=([ns]=$NS_H [tls]=none)
	local -a p=()
	o[host]=$n.sender.test
	_sl_pf_opts o "ns cgroup host tls ca sasl mechs ccert soft_bounce" p "$@" || return
	_sl_pf_new "$n" "${o[ns]}" || return
	local d=$SL_PF_ROOT/$n
	[ -n "${o[cgroup]:-}" ] || { [ "${o[ns]}" = "$NS_H" ] && o[cgroup]=yes || o[cgroup]=no; }
	echo "${o[cgroup]}" >"$d/cgroup"
	_sl_pf_set "$n" "myhostname=${o[host]}" 'myorigin=$myhostname' \
		"inet_interfaces=loopback-only" \
		"smtp_tls_security_level=${o[tls]}" \
		"soft_bounce=${o[soft_bounce]:-no}"
	if [ -n "${o[ca]:-}" ] || [ -n "${SL_PKI:-}" ]; then
		_sl_pf_set "$n" "smtp_tls_CAfile=${o[ca]:-$SL_PKI/ca.crt}"
	fi
	[ -z "${o[ccert]:-}" ] ||
		_sl_pf_set "$n" "smtp_tls_chain_files=$SL_PKI/${o[ccert]}.pem"
	if [ -n "${o[sasl]:-}" ]; then
		_sl_pf_set "$n" smtp_sasl_auth_enable=yes smtp_sasl_type=cyrus \
			"smtp_sasl_password_maps=static:{${o[sasl]}}" \
			smtp_sasl_security_options=noanonymous \
			smtp_sasl_tls_security_options=noanonymous \
			"smtp_sasl_mechanism_filter=${o[mechs]:-}"
	fi
	_sl_pf_set "$n" "${p[@]}"
	_sl_pf_commit "$n"
}

sl_pf_partner() {
	local n=$1 addrs=$2 doms=$3; shift 3
	local -A o=([ns]=$NS_P [host]=mx.${doms%%,*})
	local -a p=() l=()
	local a
	# Listener options go to sl_pf_listen, the rest is the instance's.
	for a in "$@"; do
		case ${a%%=*} in
		port|tls|tls_max|tls_min|cert|auth|user|pass|mechs|ccert|ccert_ca) l+=("$a") ;;
		*) p+=("$a") ;;
		esac
	done
	_sl_pf_opts o "ns host" p "${p[@]}" || return
	_sl_pf_new "$n" "${o[ns]}" || return
	local d=$SL_PF_ROOT/$n
	echo "${o[host]}" >"$d/realm"
	mkdir -p "$d/etc/sasl"
	# Listeners name their addresses in master.cf; inet_interfaces binds
	# nothing more.
	_sl_pf_set "$n" "myhostname=${o[host]}" inet_interfaces=loopback-only \
		"smtpd_relay_restrictions=reject_unauth_destination" \
		smtpd_sasl_type=cyrus "cyrus_sasl_config_path=$d/etc" \
		"smtpd_sasl_local_domain=${o[host]}" \
		smtpd_sasl_security_options=noanonymous \
		smtpd_sasl_tls_security_options=noanonymous \
		broken_sasl_auth_clients=no \
		smtpd_tls_security_level=none smtpd_sasl_auth_enable=no \
		smtpd_recipient_restrictions=reject
	_sl_pf_maildirs "$n" "$doms"
	_sl_pf_set "$n" "${p[@]}"
	_sl_pf_commit "$n"
	sl_pf_listen "$n" smtpd "$addrs" "${l[@]}"
}

# sl_pf_listen NAME LABEL ADDRS [opts]: one more smtpd of partner NAME, on port
# 25 (port=N) of each address, with its own settings (the partner options
# port tls tls_max tls_min cert auth user pass mechs ccert ccert_ca, as
# master.cf -o overrides).  It logs as postfix/LABEL/smtpd (the first
# listener, LABEL smtpd, as postfix/smtpd) and has its own SASL accounts.  A
# running partner is reloaded.
sl_pf_listen() {
	local n=$1 lab=$2 addrs=$3; shift 3
	local d=$SL_PF_ROOT/$n
	local host
	read -r host <"$d/realm"
	local -A o=([port]=25 [tls]=encrypt [auth]=yes [user]=smtplock
		[pass]=$SL_PF_PASS [mechs]="PLAIN LOGIN SCRAM-SHA-256")
	local -a p=() x=()
	_sl_pf_opts o "port tls tls_max tls_min cert auth user pass mechs ccert ccert_ca" \
		p "$@" || return
	if [ ${#p[@]} -gt 0 ]; then
		echo "sl_pf_listen: not a listener option: ${p[*]}" >&2; return 2
	fi
	[ "$lab" = smtpd ] || x+=("syslog_name=postfix/$lab")
	# TLS
	if [ "${o[tls]}" != none ]; then
		if [ -z "${o[cert]:-}" ]; then
			o[cert]=pf-$n
			[ -f "$SL_PKI/${o[cert]}.pem" ] ||
				sl_pki_server "${o[cert]}" ca "$host" || return
		fi
		local proto=">=TLSv1"
		[ -z "${o[tls_min]:-}" ] || proto=">=TLSv${o[tls_min]}"
		[ -z "${o[tls_max]:-}" ] || proto="$proto, <=TLSv${o[tls_max]}"
		x+=("smtpd_tls_security_level=${o[tls]}"
		    "smtpd_tls_chain_files=$SL_PKI/${o[cert]}.pem"
		    smtpd_tls_auth_only=yes
		    "smtpd_tls_protocols=$proto" "smtpd_tls_mandatory_protocols=$proto")
		if [ "${o[ccert]:-}" = require ]; then
			x+=(smtpd_tls_ask_ccert=yes smtpd_tls_req_ccert=yes
			    "smtpd_tls_CAfile=${o[ccert_ca]:-$SL_PKI/ca.crt}")
		fi
	else
		x+=(smtpd_tls_security_level=none)
	fi
	# AUTH
	local app=smtpd
	[ "$lab" = smtpd ] || app=smtpd-$lab
	case ${o[auth]} in
	no)
		x+=(smtpd_sasl_auth_enable=no smtpd_recipient_restrictions=permit) ;;
	yes|ccert)
		printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: %s\nsasldb_path: %s\n' \
			"${o[mechs]}" "$d/etc/sasldb2-$lab" >"$d/etc/sasl/$app.conf"
		sl_pf_user "$n" "${o[user]}" "${o[pass]}" "$lab" || return
		local r="permit_sasl_authenticated, reject"
		if [ "${o[auth]}" = ccert ]; then
			r="permit_tls_all_clientcerts, $r"
			x+=(smtpd_tls_ask_ccert=yes "smtpd_tls_CAfile=${o[ccert_ca]:-$SL_PKI/ca.crt}")
		fi
		x+=(smtpd_sasl_auth_enable=yes "smtpd_sasl_path=$app"
		    "smtpd_recipient_restrictions=$r") ;;
	*) echo "sl_pf_listen: auth=${o[auth]}?" >&2; return 2 ;;
	esac
	for a in ${addrs//,/ }; do _sl_pf_listen "$n" "$a" "${o[port]}" "${x[@]}"; done
	_sl_pf_settle "$n"
	if sl_pf_running "$n"; then sl_pf_reload "$n"; fi
}

# sl_pf_user NAME USER PASS [LABEL]: add or replace an account of the
# listener LABEL (default smtpd, the partner's first listener).
sl_pf_user() {
	local n=$1 u=$2 pw=$3 lab=${4:-smtpd} d=$SL_PF_ROOT/$1 realm
	read -r realm <"$d/realm"
	printf '%s' "$pw" | saslpasswd2 -p -f "$d/etc/sasldb2-$lab" -u "$realm" -c "$u" || return
	chown postfix "$d/etc/sasldb2-$lab"
	chmod 600 "$d/etc/sasldb2-$lab"
}

sl_pf_receiver() {
	local n=$1 doms=$2; shift 2
	local -A o=([ns]=$NS_H [host]=mx.${doms%%,*} [addrs]=$H4,$H6 [tls]=none
		[proxy]=127.0.0.1:10027 [xclient]=127.0.0.1:10028)
	local -a p=()
	_sl_pf_opts o "ns host addrs tls cert proxy xclient" p "$@" || return
	_sl_pf_new "$n" "${o[ns]}" || return
	local a
	for a in ${o[addrs]//,/ }; do
		_sl_pf_listen "$n" "$a" 25
	done
	_sl_pf_listen "$n" "${o[proxy]%:*}" "${o[proxy]##*:}" \
		smtpd_upstream_proxy_protocol=haproxy smtpd_upstream_proxy_timeout=2s
	_sl_pf_listen "$n" "${o[xclient]%:*}" "${o[xclient]##*:}" \
		"smtpd_authorized_xclient_hosts=127.0.0.0/8,[::1]/128"
	_sl_pf_set "$n" "myhostname=${o[host]}" inet_interfaces=loopback-only \
		"smtpd_relay_restrictions=reject_unauth_destination" \
		"smtpd_recipient_restrictions=permit" \
		"smtpd_tls_security_level=${o[tls]}"
	if [ "${o[tls]}" != none ]; then
		if [ -z "${o[cert]:-}" ]; then
			o[cert]=pf-$n
			sl_pki_server "${o[cert]}" ca "${o[host]}" || return
		fi
		_sl_pf_set "$n" "smtpd_tls_chain_files=$SL_PKI/${o[cert]}.pem"
	fi
	_sl_pf_maildirs "$n" "$doms"
	_sl_pf_set "$n" "${p[@]}"
	_sl_pf_commit "$n"
}

# ---- life cycle --------------------------------------------------------------
sl_pf_log() { printf '%s\n' "$SL_PF_ROOT/$1/maillog"; }

sl_pf_master_pid() {
	local pid
	pid=$(tr -dc 0-9 <"$SL_PF_ROOT/$1/spool/pid/master.pid" 2>/dev/null)
	[ -n "$pid" ] && printf '%s\n' "$pid"
}

sl_pf_running() {
	local pid
	read -r pid 2>/dev/null <"$SL_PF_ROOT/$1/master.pid" || return 1
	! sl_gone "$pid"
}

_sl_pf_ns() { local ns; read -r ns <"$SL_PF_ROOT/$1/ns"; echo "$ns"; }

# sl_pf_cmd NAME CMD ARGS...: a Postfix command on NAME, in its namespace
# (so the commands that talk to the daemons or resolve names work).
sl_pf_cmd() {
	local n=$1; shift
	MAIL_CONFIG=$SL_PF_ROOT/$n/etc \
		ip netns exec "$(_sl_pf_ns "$n")" "$@"
}

sl_pf_start() {
	local n=$1 d=$SL_PF_ROOT/$1 pid
	local -a pre=()
	local cg
	read -r cg <"$d/cgroup"
	if [ "$cg" = yes ]; then
		[ -d "$SL_CG" ] || { echo "sl_pf_start $n: no $SL_CG (sl_cg_up first)" >&2; return 1; }
		pre=(sl_in_cgroup)
	fi
	touch "$d/spool/quick-start"
	"${pre[@]}" ip netns exec "$(_sl_pf_ns "$n")" \
		postfix -c "$d/etc" start >"$d/start.log" 2>&1 || {
		_sl_pf_why "$n"; return 1
	}
	if ! wait_until 10 sl_pf_master_pid "$n" >/dev/null; then
		_sl_pf_why "$n"; return 1
	fi
	pid=$(sl_pf_master_pid "$n")
	echo "$pid" >"$d/master.pid"
	echo "$pid" >>"$SL_BG_FILE"
	# The master is ready once it listens (or, without listeners, runs).
	wait_until 10 _sl_pf_ready "$n"
}

# _sl_pf_why NAME: why it did not start.  Postfix writes fatal start-up
# errors only to a terminal (and the maillog, once postlogd runs): `script`
# gives `postfix check` one.
_sl_pf_why() {
	local d=$SL_PF_ROOT/$1
	echo "sl_pf_start $1: Postfix did not start" >&2
	cat "$d/start.log" >&2
	script -qec "ip netns exec $(_sl_pf_ns "$1") postfix -c $d/etc check" /dev/null >&2
	tail -n 20 "$d/maillog" >&2 2>/dev/null
}

# sl_pf_start_all NAME...: start several instances at once (set-up time).
sl_pf_start_all() {
	local n rc=0
	local -a pids=()
	for n in "$@"; do
		sl_pf_start "$n" &
		pids+=($!)
	done
	for n in "${pids[@]}"; do wait "$n" || rc=1; done
	return $rc
}

_sl_pf_ready() {
	local n=$1 d=$SL_PF_ROOT/$1
	sl_pf_running "$n" && [ -S "$d/spool/public/pickup" ] &&
		[ -S "$d/spool/public/showq" ]
}

# _sl_pf_procs NAME: PIDs of every live process of the instance.  The master
# is a session leader (setsid) and every daemon it runs stays in its session.
_sl_pf_procs() {
	local m
	read -r m 2>/dev/null <"$SL_PF_ROOT/$1/master.pid" || return 0
	ps -s "$m" -o pid=,stat= 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }'
}

_sl_pf_all_gone() { [ -z "$(_sl_pf_procs "$1")" ]; }

sl_pf_stop() {
	local n=$1 d=$SL_PF_ROOT/$1 pid
	[ -f "$d/master.pid" ] || return 0
	read -r pid <"$d/master.pid"
	ip netns exec "$(_sl_pf_ns "$n")" postfix -c "$d/etc" stop >>"$d/start.log" 2>&1 ||
		kill "$pid" 2>/dev/null
	if ! wait_until 10 _sl_pf_all_gone "$n"; then
		for pid in $(_sl_pf_procs "$n"); do kill -9 "$pid" 2>/dev/null; done
		wait_until 5 _sl_pf_all_gone "$n" || return 1
	fi
	rm -f "$d/master.pid"
}

sl_pf_reload() {
	local n=$1 d=$SL_PF_ROOT/$1
	ip netns exec "$(_sl_pf_ns "$n")" postfix -c "$d/etc" reload >>"$d/start.log" 2>&1
}

sl_pf_cleanup() {
	local d
	local -a pids=()
	[ -n "${SL_PF_ROOT:-}" ] && [ -d "$SL_PF_ROOT" ] || return 0
	for d in "$SL_PF_ROOT"/*/; do
		[ -f "$d/master.pid" ] || continue
		sl_pf_stop "$(basename "$d")" &
		pids+=($!)
	done
	for d in "${pids[@]}"; do wait "$d"; done
	rm -rf "$SL_PF_ROOT"
	SL_PF_ROOT=
}

# sl_pf_world_down: the teardown_file of a world of Postfix instances,
# DNS and the controller's kernel side: every Postfix, dnsmasq, the
# background processes, the pins, the namespaces, the cgroup.
sl_pf_world_down() {
	sl_pf_cleanup
	sl_dns_stop
	sl_kill_bg
	rm -rf "$SL_PIN"
	sl_net_down
	sl_cg_down
}

# ---- sending -----------------------------------------------------------------
# _sl_pf_payload SIZE: path of a cached body of about SIZE bytes (base64
# lines of 76 characters, so no line is a lone ".").
_sl_pf_payload() {
	local s=$1 bytes f
	case $s in
	''|0) bytes=0 ;;
	*[kK]) bytes=$(( ${s%?} * 1024 )) ;;
	*[mM]) bytes=$(( ${s%?} * 1048576 )) ;;
	*) bytes=$s ;;
	esac
	f=$SL_PF_ROOT/payload.$bytes
	if [ ! -f "$f" ]; then
		if [ "$bytes" = 0 ]; then
			printf 'A short test message.\nIt has two lines.\n' >"$f"
		else
			head -c $(( bytes * 3 / 4 )) /dev/urandom | base64 -w 76 >"$f"
		fi
		sha256sum <"$f" | cut -d' ' -f1 >"$f.sum"
	fi
	printf '%s\n' "$f"
}

sl_pf_send() {
	local n=$1 count=$2 from=$3 to=$4 size=${5:-} f sum i m tag
	f=$(_sl_pf_payload "$size") || return 1
	read -r sum <"$f.sum"
	tag=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
	for (( i = 1; i <= count; i++ )); do
		m=SLM$tag$i
		{
			printf 'From: <%s>\nTo: <%s>\nSubject: smtplock test %s\n' "$from" "$to" "$m"
			printf 'Message-ID: <%s@smtplock.test>\nDate: %s\n\n' "$m" "$(date -R)"
			printf 'marker: %s\n' "$m"
			cat "$f"
		} | MAIL_CONFIG=$SL_PF_ROOT/$n/etc sendmail -i -f "$from" -- "$to" || return 1
		printf '%s\t%s\t%s\t%s\n' "$m" "$f" "$sum" "$n" >>"$SL_PF_ROOT/sent.tsv"
		printf '%s\n' "$m"
	done
}

# ---- queue -------------------------------------------------------------------
# postqueue talks to the instance over its queue directory's sockets, so it
# needs no namespace.  Deferred mail moves between the deferred, incoming and
# active queues as Postfix retries it: what marks it deferred is a reason.

_sl_pf_postqueue() { MAIL_CONFIG=$SL_PF_ROOT/$1/etc postqueue "${@:2}"; }

sl_pf_queue() {
	_sl_pf_postqueue "$1" -j | jq -r '
		.queue_name as $q | .queue_id as $id |
		.recipients[] | [$q, $id, .address, (.delay_reason // "")] | @tsv'
}

sl_pf_queue_count() {
	_sl_pf_postqueue "$1" -j |
		jq -s --arg q "${2:-}" '[.[] | select($q == "" or .queue_name == $q)] | length'
}

sl_pf_flush() { _sl_pf_postqueue "$1" -f; }
sl_pf_purge() { MAIL_CONFIG=$SL_PF_ROOT/$1/etc postsuper -d ALL 2>/dev/null; }

# _sl_pf_wait SECONDS CMD...: wait_until at a gentler pace (the checks below
# fork postqueue and jq; the machine is shared).
_sl_pf_wait() {
	local deadline=$(( ${EPOCHREALTIME/./} + $1 * 1000000 )); shift
	while ! "$@" 2>/dev/null; do
		[ "${EPOCHREALTIME/./}" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

_sl_pf_empty() { [ "$(sl_pf_queue_count "$1")" = 0 ]; }
sl_pf_wait_empty() { _sl_pf_wait "$2" _sl_pf_empty "$1"; }

_sl_pf_deferred() {
	local c
	c=$(sl_pf_queue "$1" | awk -F'\t' '$4 != ""' | cut -f2,4 |
		grep -E -- "$3" | cut -f1 | sort -u | wc -l)
	[ "$c" -ge "$2" ]
}
sl_pf_wait_deferred() { _sl_pf_wait "$4" _sl_pf_deferred "$1" "$2" "$3"; }

# ---- mailboxes ---------------------------------------------------------------
_sl_pf_mbox_files() {
	find "$SL_PF_ROOT/$1/mail" -type f \( -path '*/new/*' -o -path '*/cur/*' \)
}

# sl_pf_mbox_count NAME [DOMAIN]: messages delivered (for DOMAIN only: by the
# Delivered-To: header the virtual agent writes first).
sl_pf_mbox_count() {
	if [ -z "${2:-}" ]; then
		_sl_pf_mbox_files "$1" | wc -l
	else
		_sl_pf_mbox_files "$1" | xargs -r grep -l -m1 -i "^Delivered-To: .*@$2\$" | wc -l
	fi
}

_sl_pf_mbox_ge() { [ "$(sl_pf_mbox_count "$1" "${3:-}")" -ge "$2" ]; }
sl_pf_wait_mbox() { _sl_pf_wait "$3" _sl_pf_mbox_ge "$1" "$2" "${4:-}"; }

sl_pf_mbox_find() {
	_sl_pf_mbox_files "$1" | xargs -r grep -l -F -m1 "Message-ID: <$2@smtplock.test>" |
		head -n1 | grep .
}

# The body is everything after the header's blank line: "marker: M" then
# the payload whose checksum sl_pf_send recorded.
# sl_pf_wait_marker NAME MARKER SECS: until the message is in NAME's maildir
# (the sender's queue empties when the partner said 250, a little before its
# delivery agent is done; maildir delivery is atomic).
sl_pf_wait_marker() { _sl_pf_wait "$3" sl_pf_mbox_find "$1" "$2" >/dev/null; }

sl_pf_mbox_intact() {
	local f rec sum
	sl_pf_wait_marker "$1" "$2" "${SL_PF_MBOX_WAIT:-10}" || true
	f=$(sl_pf_mbox_find "$1" "$2") || { echo "no message $2 in $1" >&2; return 1; }
	rec=$(awk -F'\t' -v m="$2" '$1 == m { print $3 }' "$SL_PF_ROOT/sent.tsv")
	[ -n "$rec" ] || { echo "marker $2 was never sent" >&2; return 1; }
	sum=$(awk 'b == 2 { print; next } b == 1 { if ($0 != "marker: '"$2"'") exit 1; b = 2; next }
		/^$/ && !b { b = 1 }' "$f" | sha256sum | cut -d' ' -f1)
	[ "$sum" = "$rec" ] || { echo "$2: body checksum $sum, sent $rec" >&2; return 1; }
}
