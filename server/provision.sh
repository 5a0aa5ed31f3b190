#!/usr/bin/env bash
# provision.sh - make a fresh Debian/Ubuntu VDS ready for botstack; idempotent.
#
# usage: provision.sh [--deploy-user NAME] [--authorized-key KEY | --authorized-key-file FILE|-]
#                     [--allow-ssh-user NAME]... [--env-file FILE] [--ssh-port PORT]
#                     [--root-login no|prohibit-password] [--dry-run]
#                     [--swarm-role manager|worker [--swarm-peer ADDR]...]
#
# Runs as root (first run over SSH as root, or as a sudoer through `sudo`; later runs as the deploy
# user through `sudo`).
# Inputs may also come from an env file (--env-file, or /etc/botstack/provision.env if present):
#   DEPLOY_USER=deploy  AUTHORIZED_KEY="ssh-ed25519 AAAA..."  SSH_PORT=22  ROOT_LOGIN=no
#   ALLOW_SSH_USERS="alice"  (users sshd admits besides the deploy user; --allow-ssh-user adds more)
#   SWARM_ROLE=manager  SWARM_PEERS="10.0.0.12 10.0.0.13"  (--swarm-peer adds more)
# SSH_PORT (the port the firewall keeps open) is the one sshd listens on (`sshd -T`); a different
# --ssh-port (e.g. the port dialled through NAT) only prints a warning, it never closes sshd's port.
# The authorized key is a PUBLIC key; no secret is taken by this script. `--authorized-key-file -`
# reads the key from stdin.
#
# What it does (each step prints `changed: ...` or `ok: ...`):
#   - packages: docker.io (kept if Docker Engine is already installed), ufw, unattended-upgrades,
#     sudo, cron, fail2ban (+ python3-systemd: it reads sshd's journal); Docker enabled at boot and running
#   - /etc/docker/daemon.json: json-file logs max-size 10m, max-file 3, live-restore,
#     no-new-privileges, icc off, userland-proxy off (Docker restarted only when the file changed;
#     live-restore keeps containers running)
#   - deploy user with the key, in the docker group, passwordless sudo (/etc/sudoers.d/10-botstack)
#   - sshd drop-in /etc/ssh/sshd_config.d/10-botstack.conf (keys only, no root login, AllowUsers,
#     no forwarding, MaxAuthTries 3, client keepalive, modern kex/cipher/MAC lists), validated with
#     `sshd -t` and rolled back if invalid; refused before the deploy user can log in
#   - fail2ban bans an address for 1 h after 5 failed SSH logins within 10 min
#   - ufw: default deny incoming, allow SSH/80/443 (rules commented `botstack`; only those are ever
#     removed, a user's own rules stay); DOCKER-USER rules in /etc/ufw/after.rules so published
#     container ports other than 80/443 are not reachable from outside
#   - unattended security upgrades; /etc/botstack and /var/backups/botstack (0700)
# Cluster mode (--swarm-role, a node of a Docker Swarm): no live-restore in daemon.json (swarm refuses to
# start with it), curl installed (the join sends the token to the Engine API with it), ufw opens the swarm's
# ports to the other nodes' swarm addresses only (--swarm-peer): TCP 2377 on a manager, TCP and UDP 7946,
# UDP 4789; forwarded traffic from swarm tasks to the outside (docker_gwbridge) passes DOCKER-USER.
# Files under /etc are replaced atomically: a temp file in the same directory, then rename.
# Last line: `botstack-provision: N changed` (0 on a provisioned host).
set -euo pipefail
# lib.sh: in front of this script when it came on stdin, else beside it
declare -F botstack_lib_loaded >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# `producer | put_file ...` must count its change in this shell, not in a pipeline subshell
shopt -s lastpipe

readonly MARK_BEGIN="# BEGIN botstack docker-user"
readonly MARK_END="# END botstack docker-user"
readonly UFW_OWNER="botstack"  # the comment on every ufw rule this script adds

DEPLOY_USER=""
AUTHORIZED_KEY=""
KEY_FILE=""
SSH_PORT=""
ROOT_LOGIN=""
ALLOW_SSH_USERS=""
CLI_SSH_USERS=()
ENV_FILE=""
SSH_USERS=""
SWARM_ROLE=""
SWARM_PEERS=""
CLI_SWARM_PEERS=()

parse_args() {
  while (($#)); do
    case "$1" in
      --deploy-user) DEPLOY_USER=${2:?}; shift 2 ;;
      --authorized-key) AUTHORIZED_KEY=${2:?}; shift 2 ;;
      --authorized-key-file) KEY_FILE=${2:?}; shift 2 ;;
      --env-file) ENV_FILE=${2:?}; shift 2 ;;
      --ssh-port) SSH_PORT=${2:?}; shift 2 ;;
      --root-login) ROOT_LOGIN=${2:?}; shift 2 ;;
      --allow-ssh-user) CLI_SSH_USERS+=("${2:?}"); shift 2 ;;
      --swarm-role) SWARM_ROLE=${2:?}; shift 2 ;;
      --swarm-peer) CLI_SWARM_PEERS+=("${2:?}"); shift 2 ;;
      --dry-run) DRY_RUN=1; shift ;;
      *) help_or_unknown "$1" ;;
    esac
  done
}

# The port sshd really listens on: behind NAT or port forwarding it differs from the one clients dial.
sshd_port() {
  local port
  port=$(sshd -T 2>/dev/null | awk '$1 == "port" { print $2; exit }' || true)
  echo "${port:-22}"
}

load_inputs() {
  local cli_user=$DEPLOY_USER cli_key=$AUTHORIZED_KEY cli_port=$SSH_PORT cli_root=$ROOT_LOGIN cli_role=$SWARM_ROLE
  if [[ -z $ENV_FILE && -f $BOTSTACK_PROVISION_CONFIG_FILE ]]; then ENV_FILE=$BOTSTACK_PROVISION_CONFIG_FILE; fi
  [[ -z $ENV_FILE ]] || source_config "$ENV_FILE"
  DEPLOY_USER=${cli_user:-${DEPLOY_USER:-deploy}}
  SSH_PORT=${cli_port:-${SSH_PORT:-$(sshd_port)}}
  ROOT_LOGIN=${cli_root:-${ROOT_LOGIN:-no}}
  SWARM_ROLE=${cli_role:-${SWARM_ROLE:-}}
  AUTHORIZED_KEY=${cli_key:-${AUTHORIZED_KEY:-}}
  if [[ $KEY_FILE == - ]]; then AUTHORIZED_KEY=$(cat)
  elif [[ -n $KEY_FILE ]]; then AUTHORIZED_KEY=$(cat "$KEY_FILE"); fi
  AUTHORIZED_KEY=$(printf '%s\n' "$AUTHORIZED_KEY" | grep -m1 -E '^(ssh-|ecdsa-|sk-)' || true)
  [[ $DEPLOY_USER =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "invalid deploy user name: $DEPLOY_USER"
  [[ $SSH_PORT =~ ^[0-9]+$ ]] || die "invalid ssh port: $SSH_PORT"
  local listening
  listening=$(sshd_port)
  if [[ $SSH_PORT != "$listening" ]]; then
    # lock-out guard: the firewall sees the server's port, whatever port the client dialled
    echo "warning: sshd listens on port $listening, not $SSH_PORT; the firewall keeps $listening open" >&2
    SSH_PORT=$listening
  fi
  [[ $ROOT_LOGIN == no || $ROOT_LOGIN == prohibit-password ]] || die "--root-login must be no or prohibit-password"
  local u users=("$DEPLOY_USER")
  # root login allowed on purpose must not be undone by AllowUsers
  [[ $ROOT_LOGIN == prohibit-password ]] && users+=(root)
  read -ra extra <<<"${ALLOW_SSH_USERS:-}"
  for u in "${extra[@]}" "${CLI_SSH_USERS[@]}"; do
    [[ $u =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "invalid ssh user name: $u"
    [[ " ${users[*]} " == *" $u "* ]] || users+=("$u")
  done
  SSH_USERS="${users[*]}"
  load_swarm_inputs
  if [[ -n $AUTHORIZED_KEY ]]; then
    ssh-keygen -l -f /dev/stdin <<<"$AUTHORIZED_KEY" >/dev/null 2>&1 || die "the authorized key is not a valid public key"
  fi
}

# The swarm role and the other nodes' swarm addresses (env file and --swarm-peer), checked.
load_swarm_inputs() {
  local peer peers=()
  read -ra peers <<<"${SWARM_PEERS:-}"
  peers+=("${CLI_SWARM_PEERS[@]}")
  if [[ -z $SWARM_ROLE ]]; then
    ((${#peers[@]} == 0)) || die "--swarm-peer needs --swarm-role manager|worker (cluster mode)"
    SWARM_PEERS=""
    return 0
  fi
  [[ $SWARM_ROLE == manager || $SWARM_ROLE == worker ]] || die "--swarm-role must be manager or worker"
  SWARM_PEERS=""
  for peer in "${peers[@]}"; do
    [[ $peer =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ || $peer =~ ^[0-9a-fA-F:]*:[0-9a-fA-F:.]*$ ]] \
      || die "invalid swarm peer address: $peer (an IP address the other node is reached at)"
    [[ " $SWARM_PEERS " == *" $peer "* ]] || SWARM_PEERS+="${SWARM_PEERS:+ }$peer"
  done
}

cluster_mode() { [[ -n $SWARM_ROLE ]]; }

ensure_packages() {
  local missing=() p
  if pkg_installed docker.io || pkg_installed docker-ce || command -v dockerd >/dev/null; then
    ok "Docker Engine installed"
  else
    missing+=(docker.io)
  fi
  local wanted=(ufw unattended-upgrades sudo cron fail2ban python3-systemd)
  if cluster_mode; then wanted+=(curl); fi
  for p in "${wanted[@]}"; do pkg_installed "$p" || missing+=("$p"); done
  if ((${#missing[@]} == 0)); then ok "packages installed"; return 0; fi
  ((DRY_RUN)) || apt_install "${missing[@]}"
  changed "installed ${missing[*]}"
}

# live-restore keeps containers running while dockerd restarts; swarm mode refuses to start with it.
daemon_json() {
  local live_restore='
  "live-restore": true,'
  if cluster_mode; then live_restore=""; fi
  cat <<EOF
{
  "log-driver": "json-file",
  "log-opts": {
    "max-size": "10m",
    "max-file": "3"
  },${live_restore}
  "no-new-privileges": true,
  "icc": false,
  "userland-proxy": false
}
EOF
}

DOCKER_WAS_ACTIVE=0
DAEMON_JSON_CHANGED=0

# Before the first install, so Docker starts with it; an already running Docker restarts later.
ensure_daemon_json() {
  systemctl is-active --quiet docker 2>/dev/null && DOCKER_WAS_ACTIVE=1
  daemon_json | put_file /etc/docker/daemon.json 644 root:root
  DAEMON_JSON_CHANGED=$LAST_CHANGED
}

ensure_docker() {
  if ((DAEMON_JSON_CHANGED && DOCKER_WAS_ACTIVE && !DRY_RUN)); then
    # reload first so the running daemon takes live-restore, then restart for the log options
    systemctl reload docker
    systemctl restart docker
    if cluster_mode; then echo "changed: docker restarted for the new daemon.json (swarm restarts the node's tasks)"
    else echo "changed: docker restarted for the new daemon.json (containers kept by live-restore)"; fi
  fi
  if [[ $(systemctl is-enabled docker 2>/dev/null) == enabled ]]; then ok "docker enabled at boot"
  else ((DRY_RUN)) || systemctl enable --quiet docker; changed "docker enabled at boot"; fi
  if systemctl is-active --quiet docker; then ok "docker running"
  else ((DRY_RUN)) || systemctl start docker; changed "docker started"; fi
}

ensure_user() {
  local u=$DEPLOY_USER home
  if id -u "$u" >/dev/null 2>&1; then ok "user $u exists"
  else
    ((DRY_RUN)) || useradd --create-home --shell /bin/bash --password '*' "$u"
    changed "user $u created"
  fi
  if id -nG "$u" 2>/dev/null | tr ' ' '\n' | grep -qx docker; then ok "$u in group docker"
  else ((DRY_RUN)) || usermod -aG docker "$u"; changed "$u added to group docker"; fi
  if ((DRY_RUN)) && ! id -u "$u" >/dev/null 2>&1; then return 0; fi
  home=$(getent passwd "$u" | cut -d: -f6)
  ensure_dir "$home/.ssh" 700 "$u:$u"
  local ak="$home/.ssh/authorized_keys"
  if [[ -n $AUTHORIZED_KEY ]]; then
    if [[ -f $ak ]] && grep -qxF "$AUTHORIZED_KEY" "$ak"; then ok "key in $ak"
    else
      if ((!DRY_RUN)); then printf '%s\n' "$AUTHORIZED_KEY" >>"$ak"; fi
      changed "key added to $ak"
    fi
  fi
  if [[ -f $ak ]]; then
    if [[ $(stat -c '%a %U' "$ak") == "600 $u" ]]; then ok "$ak mode 600"
    else ((DRY_RUN)) || { chown "$u:$u" "$ak"; chmod 600 "$ak"; }; changed "$ak mode 600"; fi
  fi
  local tmp
  tmp=$(mktemp)
  printf '# managed by botstack provision.sh: the deploy user runs privileged steps with sudo\n%s ALL=(root) NOPASSWD: ALL\n' "$u" >"$tmp"
  visudo -cqf "$tmp" || { rm -f "$tmp"; die "sudoers rule does not validate"; }
  put_file /etc/sudoers.d/10-botstack 440 root:root <"$tmp"
  rm -f "$tmp"
}

# The deploy user must be able to log in with a key and become root before root login goes away.
deploy_user_can_take_over() {
  local u=$DEPLOY_USER home
  id -u "$u" >/dev/null 2>&1 || return 1
  home=$(getent passwd "$u" | cut -d: -f6)
  grep -qE '^(ssh-|ecdsa-|sk-)' "$home/.ssh/authorized_keys" 2>/dev/null || return 1
  sudo -n -u "$u" -- sudo -n true 2>/dev/null
}

# Algorithms we accept, strongest first; those this OpenSSH does not know are dropped (sshd -t
# refuses unknown names), so newer hosts get the post-quantum ones. Every client botstack uses
# (OpenSSH, Go's x/crypto/ssh in pulumi-command, paramiko) speaks curve25519-sha256,
# aes*-gcm/ctr and hmac-sha2-*-etm.
readonly KEX_PREFERRED="mlkem768x25519-sha256 sntrup761x25519-sha512 sntrup761x25519-sha512@openssh.com curve25519-sha256 curve25519-sha256@libssh.org diffie-hellman-group18-sha512 diffie-hellman-group16-sha512"
readonly CIPHERS_PREFERRED="chacha20-poly1305@openssh.com aes256-gcm@openssh.com aes128-gcm@openssh.com aes256-ctr aes192-ctr aes128-ctr"
readonly MACS_PREFERRED="hmac-sha2-512-etm@openssh.com hmac-sha2-256-etm@openssh.com umac-128-etm@openssh.com"

# supported QUERY "PREFERRED...": the comma-separated subset of PREFERRED that `ssh -Q QUERY` lists.
supported() {
  local query=$1 known a out=() wanted
  read -ra wanted <<<"$2"
  known=$(ssh -Q "$query" 2>/dev/null || true)
  for a in "${wanted[@]}"; do grep -qxF "$a" <<<"$known" && out+=("$a"); done
  ((${#out[@]})) || die "this OpenSSH supports none of: $2"
  local IFS=,
  echo "${out[*]}"
}

sshd_dropin() {
  cat <<EOF
# managed by botstack provision.sh; first value wins in sshd, this file is read before the rest
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PubkeyAuthentication yes
AuthenticationMethods publickey
PermitRootLogin ${ROOT_LOGIN}
AllowUsers ${SSH_USERS}
MaxAuthTries 3
LoginGraceTime 30
MaxStartups 10:30:60
ClientAliveInterval 300
ClientAliveCountMax 2
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
AllowStreamLocalForwarding no
PermitTunnel no
KexAlgorithms $(supported kex "$KEX_PREFERRED")
Ciphers $(supported cipher "$CIPHERS_PREFERRED")
MACs $(supported mac "$MACS_PREFERRED")
EOF
}

ssh_service() { if systemctl cat ssh.service >/dev/null 2>&1; then echo ssh; else echo sshd; fi; }

# sshd re-executes itself on reload; wait until it greets again so the next connection gets in.
wait_for_sshd() {
  local i banner
  for i in $(seq 1 40); do
    banner=$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SSH_PORT && head -c 4 <&3" 2>/dev/null || true)
    [[ $banner == SSH- ]] && return 0
    sleep 0.25
  done
  echo "warning: sshd does not answer on port $SSH_PORT after reload (try $i)" >&2
}

ensure_sshd() {
  local dest=/etc/ssh/sshd_config.d/10-botstack.conf content tmp backup=""
  grep -qiE '^\s*Include\s+/etc/ssh/sshd_config\.d/\*\.conf' /etc/ssh/sshd_config \
    || die "/etc/ssh/sshd_config does not include sshd_config.d/*.conf; cannot harden safely"
  content=$(sshd_dropin)
  if [[ -f $dest ]] && cmp -s "$dest" <(printf '%s\n' "$content"); then ok "$dest"; return 0; fi
  if ((DRY_RUN)); then changed "$dest would be written and sshd reloaded"; return 0; fi
  if ! deploy_user_can_take_over; then
    die "refusing to harden sshd: user $DEPLOY_USER has no authorized key or no sudo yet (lock-out guard)"
  fi
  if [[ -f $dest ]]; then backup=$(temp_beside "$dest"); cp -p "$dest" "$backup"; fi
  tmp=$(temp_beside "$dest")
  printf '%s\n' "$content" >"$tmp"
  chmod 644 "$tmp"; chown root:root "$tmp"
  mv -f "$tmp" "$dest"
  mkdir -p /run/sshd
  if ! sshd -t 2>&1; then
    if [[ -n $backup ]]; then mv -f "$backup" "$dest"; else rm -f "$dest"; fi
    die "sshd -t rejected the new config; rolled back $dest"
  fi
  [[ -z $backup ]] || rm -f "$backup"
  systemctl try-reload-or-restart "$(ssh_service)"  # socket-activated sshd (Ubuntu 24.04) may be idle
  wait_for_sshd
  changed "$dest written, sshd reloaded"
}

# fail2ban rather than `ufw limit`: ufw's limit counts every new connection (6 in 30 s), and one
# `pulumi up` opens more than that from the deploying machine (each remote command and the docker
# provider dial anew), so it would ban the deploy itself. fail2ban counts failed logins only
# ("normal" mode: invalid users, users not in AllowUsers, refused root, too many auth failures).
fail2ban_jail() {
  cat <<EOF
# managed by botstack provision.sh
[sshd]
enabled = true
backend = systemd
port = ${SSH_PORT}
mode = normal
maxretry = 5
findtime = 10m
bantime = 1h
banaction = iptables-multiport
EOF
}

ensure_fail2ban() {
  fail2ban_jail | put_file /etc/fail2ban/jail.d/botstack.local 644 root:root
  local jail_changed=$LAST_CHANGED
  if [[ $(systemctl is-enabled fail2ban 2>/dev/null) == enabled ]]; then ok "fail2ban enabled at boot"
  else ((DRY_RUN)) || systemctl enable --quiet fail2ban; changed "fail2ban enabled at boot"; fi
  if ((jail_changed && !DRY_RUN)); then
    systemctl restart fail2ban
    echo "changed: fail2ban restarted for the new jail"
  elif systemctl is-active --quiet fail2ban; then ok "fail2ban running"
  else ((DRY_RUN)) || systemctl start fail2ban; changed "fail2ban started"; fi
}

after_rules_block() {
  # swarm tasks reach the outside through docker_gwbridge
  local gwbridge=""
  if cluster_mode; then gwbridge=$'\n-A DOCKER-USER -i docker_gwbridge -j RETURN'; fi
  cat <<EOF
$MARK_BEGIN
# Docker's published ports are DNATed in PREROUTING and never reach ufw's INPUT rules.
# Filter forwarded traffic to containers here: only the original destination ports 80 and 443
# may come in from outside; traffic from the containers' own bridges and replies pass.
*filter
:DOCKER-USER - [0:0]
-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
-A DOCKER-USER -i docker0 -j RETURN
-A DOCKER-USER -i br-+ -j RETURN${gwbridge}
-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 80 -j RETURN
-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 443 -j RETURN
-A DOCKER-USER -j DROP
COMMIT
$MARK_END
EOF
}

# The rules (the words after `ufw allow`) that let the other nodes of the swarm in, one a line: cluster
# management on a manager, node gossip, and the overlay networks' VXLAN, each from a peer's address only.
swarm_rules() {
  local peer
  cluster_mode || return 0
  for peer in $SWARM_PEERS; do
    if [[ $SWARM_ROLE == manager ]]; then echo "from $peer to any port 2377 proto tcp"; fi
    echo "from $peer to any port 7946 proto tcp"
    echo "from $peer to any port 7946 proto udp"
    echo "from $peer to any port 4789 proto udp"
  done
}

ufw_active() { ufw status 2>/dev/null | grep -q '^Status: active'; }

ensure_ufw() {
  local rules=/etc/ufw/after.rules tmp
  [[ -f $rules ]] || { ((DRY_RUN)) && { changed "ufw would be configured"; return 0; }; die "$rules missing"; }
  tmp=$(temp_beside "$rules")
  awk -v b="$MARK_BEGIN" -v e="$MARK_END" '$0==b{skip=1} !skip{print} $0==e{skip=0}' "$rules" >"$tmp"
  after_rules_block >>"$tmp"
  local rules_changed=0
  if cmp -s "$tmp" "$rules"; then ok "$rules DOCKER-USER block"
  else
    rules_changed=1
    ((DRY_RUN)) || { chmod 640 "$tmp"; mv -f "$tmp" "$rules"; }
    changed "$rules DOCKER-USER block"
  fi
  rm -f "$tmp"

  local verbose
  verbose=$(ufw status verbose 2>/dev/null || true)
  if grep -q 'Default: deny (incoming), allow (outgoing), deny (routed)' <<<"$verbose" \
     || { ! ufw_active && grep -q '^DEFAULT_INPUT_POLICY="DROP"' /etc/default/ufw \
          && grep -q '^DEFAULT_OUTPUT_POLICY="ACCEPT"' /etc/default/ufw \
          && grep -q '^DEFAULT_FORWARD_POLICY="DROP"' /etc/default/ufw; }; then
    ok "ufw defaults deny incoming/routed, allow outgoing"
  else
    ((DRY_RUN)) || { ufw default deny incoming; ufw default allow outgoing; ufw default deny routed; } >/dev/null
    changed "ufw defaults deny incoming/routed, allow outgoing"
  fi

  ensure_ufw_allow_rules

  if ufw_active; then
    ok "ufw active"
    if ((rules_changed && !DRY_RUN)); then ufw reload >/dev/null; echo "changed: ufw reloaded"; fi
  else
    ((DRY_RUN)) || ufw --force enable >/dev/null
    changed "ufw enabled"
  fi
}

# Our rules carry the comment UFW_OWNER; only those are ever removed, so a user's own rules stay.
# (ufw treats a rule that differs only in its comment as the same rule: adding ours over an
# identical uncommented one, e.g. from an older provision.sh, just adopts it.)
ensure_ufw_allow_rules() {
  local want=("$SSH_PORT/tcp" 80/tcp 443/tcp) owned=" comment '$UFW_OWNER'" added r w keep words
  while IFS= read -r r; do [[ -z $r ]] || want+=("$r"); done < <(swarm_rules)
  added=$(ufw show added 2>/dev/null | sed -n 's/^ufw //p')
  for r in "${want[@]}"; do
    if grep -qxF "allow $r$owned" <<<"$added"; then ok "ufw allow $r"
    else
      if ((!DRY_RUN)); then read -ra words <<<"$r"; ufw allow "${words[@]}" comment "$UFW_OWNER" >/dev/null; fi
      changed "ufw allow $r"
    fi
  done
  while IFS= read -r r; do
    [[ $r == *"$owned" ]] || continue
    r=${r%"$owned"}
    keep=0
    for w in "${want[@]}"; do [[ $r == "allow $w" ]] && keep=1; done
    ((keep)) && continue
    if ((!DRY_RUN)); then read -ra words <<<"$r"; ufw --force delete "${words[@]}" >/dev/null; fi
    changed "ufw rule of an earlier provisioning removed: $r"
  done <<<"$added"
}

ensure_unattended_upgrades() {
  printf '%s\n' 'APT::Periodic::Update-Package-Lists "1";' 'APT::Periodic::Unattended-Upgrade "1";' \
    | put_file /etc/apt/apt.conf.d/20auto-upgrades 644 root:root
  local t
  for t in apt-daily.timer apt-daily-upgrade.timer; do
    if [[ $(systemctl is-enabled "$t" 2>/dev/null) == enabled ]]; then ok "$t enabled"
    else ((DRY_RUN)) || systemctl enable --now --quiet "$t"; changed "$t enabled"; fi
  done
}

main() {
  parse_args "$@"
  require_root
  load_inputs
  ensure_dir "$BOTSTACK_ETC_DIR" 700 root:root
  ensure_dir "$BOTSTACK_BACKUP_DIR" 700 root:root
  ensure_daemon_json
  ensure_packages
  ensure_docker
  ensure_user
  ensure_unattended_upgrades
  ensure_ufw
  ensure_sshd
  ensure_fail2ban
  summary
}

# Sourced (the unit tests call the functions): define them only.
(return 0 2>/dev/null) && return 0
main "$@"
