#!/usr/bin/env bash
# A cluster CA and the certificates a pg-metako cluster uses, made with openssl.
#
#   deploy/certs.sh init DIR                       the cluster CA: DIR/ca.crt, DIR/ca.key (keep ca.key offline)
#   deploy/certs.sh instance DIR NAME ADDR[,ADDR]  a certificate for instance NAME, valid for the addresses clients
#                                                  and peers use to reach it (IPs or DNS names): DIR/NAME.crt, .key
#   deploy/certs.sh client DIR NAME                a client certificate (an operator, for metakoctl --cert --key
#                                                  against security.api_client_ca_file): DIR/NAME.crt, .key
#
# Keys are PKCS#8 PEM (what metako and PostgreSQL read), written 0600; certificates last DAYS (default 825).
# An instance certificate can serve its statement router (security.tls_enabled) and admin API
# (security.api_tls_enabled) through security.cert_file / key_file; metakoctl trusts it with --cacert DIR/ca.crt.
set -euo pipefail
days="${DAYS:-825}"

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

need_ca() {
  [ -f "$1/ca.crt" ] && [ -f "$1/ca.key" ] || { echo "certs.sh: no CA in $1: run 'deploy/certs.sh init $1' first" >&2; exit 1; }
}

key() { # PATH: a new RSA key, PKCS#8, readable by its owner only
  (umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null)
}

sign() { # DIR NAME SUBJECT EXTENSIONS
  local dir="$1" name="$2" subject="$3" ext="$4"
  key "$dir/$name.key"
  openssl req -new -key "$dir/$name.key" -subj "$subject" -out "$dir/$name.csr" 2>/dev/null
  printf '%b' "$ext" > "$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days "$days" \
    -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
  echo "certs.sh: $dir/$name.crt and $dir/$name.key (signed by $dir/ca.crt, $days days)"
}

san() { # ADDR[,ADDR] -> subjectAltName=IP:...,DNS:...
  local out="" a
  IFS=',' read -ra parts <<< "$1"
  for a in "${parts[@]}"; do
    if [[ "$a" =~ ^[0-9.]+$ || "$a" == *:* ]]; then out+="IP:$a,"; else out+="DNS:$a,"; fi
  done
  echo "${out%,}"
}

[ $# -ge 2 ] || usage
verb="$1"; dir="$2"
case "$verb" in
  init)
    mkdir -p "$dir"
    [ -f "$dir/ca.key" ] && { echo "certs.sh: $dir/ca.key exists: not overwritten" >&2; exit 1; }
    key "$dir/ca.key"
    openssl req -x509 -new -key "$dir/ca.key" -days "$days" -subj "/CN=pg-metako cluster CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$dir/ca.crt" 2>/dev/null
    echo "certs.sh: $dir/ca.crt (share it) and $dir/ca.key (keep it offline)"
    ;;
  instance)
    [ $# -eq 4 ] || usage
    need_ca "$dir"
    sign "$dir" "$3" "/CN=$3" "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=$(san "$4")\n"
    ;;
  client)
    [ $# -eq 3 ] || usage
    need_ca "$dir"
    sign "$dir" "$3" "/CN=$3" "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n"
    ;;
  *) usage ;;
esac
