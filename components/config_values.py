"""Checks of single config values, by class: hosts, users, URLs, cron, names, sizes, durations, keys.

Every value reaches a command line, a file on the VDS (known_hosts, crontab, sshd), a container or
SQL, so every check matches the whole string (`re.fullmatch`; `$` would accept a trailing newline),
in ASCII only (`\\d` would accept other scripts' digits), and none puts the value in its message: some
values are secrets. Each check raises `Invalid` with what is wrong and, where it helps, the fix.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from components.config_errors import Invalid


def no_edges(value: str) -> str:
    """Reject leading or trailing whitespace: a newline pasted or read from a file would reach files and commands."""
    if value != value.strip():
        raise Invalid("has leading or trailing whitespace (a newline from a file or a paste?); remove it")
    return value


def no_control_characters(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise Invalid("contains a control character (a newline or tab?); remove it")
    return value


@dataclass(frozen=True)
class FullMatch:
    """`Annotated[str, FullMatch(regex, message)]`: the whole string matches `regex` (ASCII), or `message`.

    The regex is also the field's JSON-schema `pattern` (anchored), which the config reference shows.
    """

    regex: str
    message: str

    def check(self, value: str) -> str:
        no_edges(value)
        if not re.fullmatch(self.regex, value, re.ASCII):
            raise Invalid(self.message)
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = f"^{self.regex}$"
        return json_schema


# ---- hosts -------------------------------------------------------------------------------------------------------

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
LOOPBACK_NAMES = ("localhost",)


def host(value: str) -> str:
    """An IPv4 address or a DNS name that ssh, known_hosts and URLs take as they are."""
    if value == "":
        raise Invalid("is empty; it must be the VDS's IPv4 address or DNS name")
    no_edges(value)
    if value.startswith("-"):
        raise Invalid("must not start with '-' (ssh would read it as an option)")
    if ":" in value or value.startswith("["):
        try:
            ipaddress.IPv6Address(value.strip("[]"))
        except ValueError:
            pass
        else:
            raise Invalid(
                "is an IPv6 address, which is not supported yet (the docker ssh:// URL and known_hosts line would "
                "need brackets); use the IPv4 address or a DNS name that resolves to the VDS"
            )
    if re.fullmatch(r"[0-9.]+", value):
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise Invalid("is not a valid IPv4 address (four numbers 0-255, no leading zeros)") from None
        return value
    if len(value) > 253 or not _HOSTNAME.fullmatch(value):
        raise Invalid(
            "must be an IPv4 address or a DNS name: lowercase letters, digits, '-' and '.', "
            "labels of at most 63 characters, e.g. 203.0.113.10 or vds.example.com"
        )
    return value


def dns_name(value: str) -> str:
    """A public DNS name of at least two labels (certificates are issued for it)."""
    no_edges(value)
    labels = value.split(".")
    if (
        len(value) > 253
        or len(labels) < 2
        or not _HOSTNAME.fullmatch(value)
        or labels[-1].isdigit()
    ):
        raise Invalid("must be a DNS name such as bot.example.com (lowercase letters, digits, '-' and '.')")
    return value


def is_local_host(value: str) -> bool:
    """A host that plain http may reach without crossing a network: a container name on the stack's
    networks (one label, resolved by Docker's DNS), localhost, or a loopback address."""
    name = value.strip("[]")
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return "." not in name


# ---- URLs --------------------------------------------------------------------------------------------------------

_URL = re.compile(
    r"(?P<scheme>https?)://(?P<host>\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?(?P<path>/[A-Za-z0-9._~%/-]*)?",
    re.ASCII,
)


def url(value: str) -> str:
    """An http(s) URL without credentials, query, quotes or shell characters: it reaches commands and containers."""
    no_edges(value)
    match = _URL.fullmatch(value)
    if not match:
        raise Invalid(
            "must be an http:// or https:// URL: a lowercase host, an optional port and path of letters, digits and "
            "._~%/- (no credentials, query, quotes or spaces), e.g. https://bot.example.com/api/health"
        )
    address = match["host"]
    if address.startswith("["):
        try:
            ipaddress.IPv6Address(address[1:-1])
        except ValueError:
            raise Invalid("has an invalid IPv6 address in brackets") from None
    else:
        host(address)
    if match["port"] is not None and not 1 <= int(match["port"]) <= 65535:
        raise Invalid("has a port outside 1..65535")
    return value


def url_host(value: str) -> str:
    match = _URL.fullmatch(value)
    assert match is not None  # checked by url()
    return match["host"]


# ---- users and names ------------------------------------------------------------------------------------------------

UNIX_USER = r"[a-z_][a-z0-9_-]{0,31}"
# Accounts of a Debian/Ubuntu base system and the packages provisioning installs: taking one over as the
# deploy user either fails (useradd) or locks you out (root once sshd says `PermitRootLogin no`; nobody and
# the system accounts have no usable shell or home).
SYSTEM_USERS = frozenset(
    {
        "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy", "www-data",
        "backup", "list", "irc", "gnats", "nobody", "_apt", "messagebus", "sshd", "syslog", "uuidd", "tcpdump",
        "dnsmasq", "polkitd", "docker", "postgres", "redis", "ntp", "_chrony", "chrony", "statd", "tss", "landscape",
        "pollinate", "lxd", "usbmux", "fwupd-refresh", "systemd-network", "systemd-resolve", "systemd-timesync",
        "systemd-coredump", "systemd-oom",
    }
)  # fmt: skip


def deploy_user(value: str) -> str:
    no_edges(value)
    if not re.fullmatch(UNIX_USER, value, re.ASCII):
        raise Invalid("must be a Linux user name: lowercase letters, digits, '_' and '-', starting with a letter or '_', "
                      "at most 32 characters")
    if value in SYSTEM_USERS or value.startswith("systemd-"):
        raise Invalid(
            "is a system account; provisioning turns off root login and makes this user the only way in, so it "
            "must be a normal user of its own (the default 'deploy' is fine)",
            example="'deploy'",
        )
    return value


def bootstrap_user(value: str) -> str:
    """root, or a normal user with passwordless sudo: the Server component then runs provisioning through `sudo -n`."""
    no_edges(value)
    if value == "root":
        return value
    if not re.fullmatch(UNIX_USER, value, re.ASCII):
        raise Invalid("must be root or a Linux user name with passwordless sudo: lowercase letters, digits, '_' and "
                      "'-', starting with a letter or '_', at most 32 characters", example="'root'")
    if value in SYSTEM_USERS or value.startswith("systemd-"):
        raise Invalid("is a system account without a login; use root or the provider's admin user (with passwordless "
                      "sudo)", example="'root'")
    return value


PG_IDENTIFIER = r"[a-z_][a-z0-9_]*"
PG_NAME_MAX = 63  # PostgreSQL's NAMEDATALEN - 1: longer names are cut, silently
VERIFY_SUFFIX = "_verify"  # server/verify-backup.sh restores into "<database.name>_verify"
RESERVED_DATABASES = frozenset({"postgres", "template0", "template1"})
RESERVED_ROLES = frozenset({"public", "none", "current_user", "current_role", "session_user", "user"})


def database_name(value: str) -> str:
    no_edges(value)
    longest = PG_NAME_MAX - len(VERIFY_SUFFIX)
    if not re.fullmatch(PG_IDENTIFIER, value, re.ASCII):
        raise Invalid("must be lowercase letters, digits and '_', starting with a letter or '_'", example="'botstack'")
    if len(value) > longest:
        raise Invalid(
            f"is longer than {longest} characters: the backup check restores into '<name>{VERIFY_SUFFIX}', which "
            f"PostgreSQL would cut to {PG_NAME_MAX} characters, back to the live database's name",
            example="'botstack'",
        )
    if value.endswith(VERIFY_SUFFIX):
        raise Invalid(f"must not end in '{VERIFY_SUFFIX}': that suffix names the backup check's scratch database",
                      example="'botstack'")
    if value in RESERVED_DATABASES:
        raise Invalid(f"is reserved by PostgreSQL ({', '.join(sorted(RESERVED_DATABASES))}); use a name of its own",
                      example="'botstack'")
    return value


def role_name(value: str) -> str:
    no_edges(value)
    if not re.fullmatch(PG_IDENTIFIER, value, re.ASCII):
        raise Invalid("must be lowercase letters, digits and '_', starting with a letter or '_'", example="'botstack'")
    if len(value) > PG_NAME_MAX:
        raise Invalid(f"is longer than {PG_NAME_MAX} characters (PostgreSQL would cut it)", example="'botstack'")
    if value in RESERVED_ROLES or value.startswith("pg_"):
        raise Invalid("is a reserved PostgreSQL role name (pg_*, public, none, current_user, session_user, ...)",
                      example="'botstack'")
    return value


# ---- cron --------------------------------------------------------------------------------------------------------

CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12), ("day-of-week", 0, 7))
_CRON_ITEM = re.compile(r"(?:(?P<star>\*)|(?P<first>[0-9]{1,2})(?:-(?P<last>[0-9]{1,2}))?)(?:/(?P<step>[0-9]{1,2}))?")
CRON_EXAMPLE = "'0 */6 * * *'"


def cron(value: str) -> str:
    """A 5-field cron schedule, numbers only, each field within its range (cron skips a bad line silently)."""
    no_edges(value)
    fields = value.split(" ")
    fields = [f for f in fields if f]
    if not re.fullmatch(r"[0-9*/,\- ]+", value) or len(fields) != 5:
        raise Invalid(
            "must be a 5-field cron expression (minute hour day-of-month month day-of-week, numbers, * , - and / "
            "only) such as '0 */6 * * *'",
            example=CRON_EXAMPLE,
        )
    for text, (name, low, high) in zip(fields, CRON_FIELDS, strict=True):
        for item in text.split(","):
            match = _CRON_ITEM.fullmatch(item)
            if not match:
                raise Invalid(f"the {name} field '{text}' is not valid cron syntax", example=CRON_EXAMPLE)
            numbers = [int(n) for n in (match["first"], match["last"]) if n is not None]
            if any(not low <= n <= high for n in numbers):
                raise Invalid(f"the {name} field '{text}' is out of range: {name} is {low}-{high}", example=CRON_EXAMPLE)
            if match["last"] is not None and int(match["last"]) < int(match["first"]):
                raise Invalid(f"the {name} field '{text}' has a range that runs backwards", example=CRON_EXAMPLE)
            if match["step"] is not None:
                if match["star"] is None and match["last"] is None:
                    raise Invalid(f"the {name} field '{text}' has a step after a single number (use */N or A-B/N)",
                                  example=CRON_EXAMPLE)
                if not 1 <= int(match["step"]) <= high - low:
                    raise Invalid(f"the {name} field '{text}' has a step outside 1-{high - low}", example=CRON_EXAMPLE)
    return value


# ---- sizes and durations ------------------------------------------------------------------------------------------

_SIZE = re.compile(r"(?P<n>[0-9]+(?:\.[0-9]+)?)(?P<unit>[kKmMgGtT]?)[bB]?")
MEMORY_MAX_MB = 1024 * 1024  # 1T: more than any VDS, and far below what overflows Docker's int64 bytes


def megabytes(value: Any) -> int:
    """'512M', '1G', '512', 512 -> MB (the unit pulumi-docker's memory fields take)."""
    if isinstance(value, bool):
        raise Invalid("expected a size such as 512M or 1G", example="'512M'")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise Invalid("expected a size such as 512M or 1G", example="'512M'")
        number, unit = float(value), "m"
    else:
        text = str(value)
        if text != text.strip():
            raise Invalid("has leading or trailing whitespace (a newline from a file or a paste?); remove it", example="'512M'")
        match = _SIZE.fullmatch(text)
        if not match:
            raise Invalid("expected a size such as 512M or 1G", example="'512M'")
        number, unit = float(match["n"]), (match["unit"] or "m").lower()
    mb = number * {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}[unit]
    if mb > MEMORY_MAX_MB:
        raise Invalid("is more than 1T; give the size in M or G, e.g. 512M or 2G", example="'512M'")
    if mb < 6 or mb != int(mb):
        raise Invalid("must be a whole number of megabytes, at least 6M (Docker's minimum)", example="'512M'")
    return int(mb)


def format_mb(mb: int) -> str:
    return f"{mb // 1024}G" if mb % 1024 == 0 else f"{mb}M"


def cpus(value: Any) -> str:
    if isinstance(value, bool):
        raise Invalid("expected a number of CPUs such as 0.5 or 1", example="'0.5'")
    numeric = isinstance(value, int | float) or (isinstance(value, str) and re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", value, re.ASCII))
    if not numeric:
        raise Invalid("expected a number of CPUs such as 0.5 or 1", example="'0.5'")
    number = float(value)
    if not 0.01 <= number <= 64:  # also false for nan
        raise Invalid("must be between 0.01 and 64 CPUs", example="'0.5'")
    # pulumi-docker takes cpus as a decimal string; keep a canonical spelling so previews converge.
    return f"{number:g}"


_LOG_SIZE = re.compile(r"(?P<n>[1-9][0-9]{0,6})(?P<unit>[kmg])")


def log_size(value: str) -> str:
    """Docker's json-file max-size: 1k..100g."""
    no_edges(value)
    match = _LOG_SIZE.fullmatch(value)
    if not match:
        raise Invalid("must be a number and a unit k, m or g, e.g. 10m", example="'10m'")
    kb = int(match["n"]) * {"k": 1, "m": 1024, "g": 1024 * 1024}[match["unit"]]
    if kb > 100 * 1024 * 1024:
        raise Invalid("must be at most 100g", example="'10m'")
    return value


_GO_DURATION_PART = re.compile(r"(?P<n>[0-9]+(?:\.[0-9]+)?)(?P<unit>ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_seconds(value: str) -> float:
    """A Go duration ('250ms', '1m30s') in seconds."""
    no_edges(value)
    if not re.fullmatch(rf"(?:{_GO_DURATION_PART.pattern})+", value):
        raise Invalid("expected a Go duration such as 250ms, 30s or 1m30s")
    return sum(float(m["n"]) * _GO_UNITS[m["unit"]] for m in _GO_DURATION_PART.finditer(value))


def go_duration(minimum: str, maximum: str, example: str) -> Callable[[str], str]:
    """A check of a Go duration from `minimum` to `maximum` (both Go durations)."""
    low, high = go_seconds(minimum), go_seconds(maximum)

    def check(value: str) -> str:
        if not low <= go_seconds(value) <= high:
            raise Invalid(f"must be from {minimum} to {maximum}", example=f"'{example}'")
        return value

    return check


# ---- SSH keys -------------------------------------------------------------------------------------------------------

HOST_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")
_HOST_KEY = re.compile(rf"(?P<type>{'|'.join(HOST_KEY_TYPES)}) (?P<body>[A-Za-z0-9+/]+={{0,2}})")


def host_key(value: str) -> str:
    """One OpenSSH public key line without host name or comment, whose body decodes to a key of that type."""
    no_edges(value)
    match = _HOST_KEY.fullmatch(value)
    if not match:
        raise Invalid(f"must be one public key line without the host name, e.g. 'ssh-ed25519 AAAA...' (types: "
                      f"{', '.join(HOST_KEY_TYPES)})")
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        base64.b64decode(match["body"], validate=True)
    except ValueError:
        raise Invalid("has a key body that is not valid base64 (copied incompletely?)") from None
    try:
        serialization.load_ssh_public_key(value.encode())
    except (ValueError, UnsupportedAlgorithm):
        raise Invalid("has a key body that does not hold a key of the type it names (copied incompletely?)") from None
    return value


SSH_KEY_FIX = (
    "pulumi config set -s {stack} --secret botstack:sshPrivateKey < ~/.ssh/botstack_deploy  "
    "(an OpenSSH private key without passphrase; a new one: ssh-keygen -t ed25519 -N '' -f ~/.ssh/botstack_deploy)"
)


def ssh_public_key(private_key: str) -> str:
    """The OpenSSH public key line of an OpenSSH private key; `Invalid` (never the key) when it can't be used."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, rsa

    text = private_key.strip()
    if not text:
        raise Invalid("is empty", fix=SSH_KEY_FIX)
    if re.match(r"(?:ssh-|ecdsa-|sk-)\S+ [A-Za-z0-9+/=]+", text):
        raise Invalid("is a public key; it must be the private key (the file without .pub)", fix=SSH_KEY_FIX)
    if "-----BEGIN OPENSSH PRIVATE KEY-----" not in text:
        if re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text):
            raise Invalid(
                "is a PEM private key; botstack reads OpenSSH-format keys",
                fix="rewrite a copy in OpenSSH format: ssh-keygen -p -N '' -f <copy of the key>, then "
                + SSH_KEY_FIX.split("  (")[0],
            )
        raise Invalid("is not an SSH private key", fix=SSH_KEY_FIX)
    try:
        key = serialization.load_ssh_private_key(private_key.encode(), password=None)
    except TypeError:
        raise Invalid(
            "is protected by a passphrase, which provisioning can't type in",
            fix="remove the passphrase from a copy: ssh-keygen -p -N '' -f <copy of the key>, then "
            + SSH_KEY_FIX.split("  (")[0],
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise Invalid("is not a valid OpenSSH private key (truncated, or an unsupported key type?)", fix=SSH_KEY_FIX) from None
    if isinstance(key, dsa.DSAPrivateKey):
        raise Invalid("is a DSA key, which OpenSSH no longer accepts; use ed25519", fix=SSH_KEY_FIX)
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
        raise Invalid("is an RSA key shorter than 2048 bits, which OpenSSH refuses; use ed25519", fix=SSH_KEY_FIX)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return public.decode()


# ---- point-in-time recovery (pgBackRest) ----------------------------------------------------------------------------

PITR_SECRET_FIX = "pulumi config set -s {stack} --secret --path 'botstack:backup.pitr.%s' %s"  # noqa: S105 - a command
_PGBACKREST_SECRET = re.compile(r"[!-~]+")  # printable ASCII without spaces: one line of pgBackRest's config file


def pgbackrest_secret(key: str, minimum: int, example: str) -> Callable[[Any], Any]:
    """A secret that becomes one `option=value` line of pgBackRest's config file: at least `minimum` printable
    characters, no spaces or line breaks. The error's fix sets it as a secret (never echoes it)."""

    def check(value: Any) -> Any:
        if value is None:
            return value
        secret = value.get_secret_value()
        fix = PITR_SECRET_FIX % (key, example)
        if len(secret) < minimum:
            raise Invalid(f"must be at least {minimum} characters", fix=fix)
        if not _PGBACKREST_SECRET.fullmatch(secret):
            raise Invalid("may only contain printable ASCII without spaces or line breaks (it is a line of "
                          "pgBackRest's config file)", fix=fix)
        return value

    return check


def sftp_private_key(value: Any) -> Any:
    """An OpenSSH private key without passphrase for the SFTP repository (the same rules as sshPrivateKey)."""
    if value is None:
        return value
    fix = PITR_SECRET_FIX % ("offsite.sftpPrivateKey", "< ~/.ssh/botstack_offsite  (a new one: ssh-keygen -t ed25519 "
                             "-N '' -f ~/.ssh/botstack_offsite; its .pub goes into the SFTP user's authorized_keys)")
    try:
        ssh_public_key(value.get_secret_value())
    except Invalid as problem:
        raise Invalid(problem.message, fix=fix) from None
    return value


def host_key_sha256(value: str) -> str:
    """The SHA-256 fingerprint of an OpenSSH public key line, hex: what pgBackRest compares the SFTP host's key with
    (repo-sftp-host-key-hash-type=sha256). Same hash as `ssh-keygen -l -E sha256`, hex instead of base64."""
    body = value.split()[1]
    return hashlib.sha256(base64.b64decode(body)).hexdigest()
