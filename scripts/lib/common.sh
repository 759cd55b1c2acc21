# shellcheck shell=bash
# Shared helpers for scripts/*. Source this file; do not execute it.
#
#   juki_log MSG...     print "[juki] MSG" to stderr
#   juki_die MSG...     print an error and exit 1
#   juki_ensure_uv      make sure `uv` is on PATH (installs it with pip if missing)
#   juki_uv_sync        ensure uv, then `uv sync` (frozen when uv.lock exists)

JUKI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export JUKI_ROOT

juki_log() { printf '[juki] %s\n' "$*" >&2; }
juki_die() { printf '[juki] ERROR: %s\n' "$*" >&2; exit 1; }

# Put the uv binary shipped by the `uv` PyPI package on PATH, if installed.
_juki_uv_from_python() {
    local bin
    bin="$(python3 -c 'import uv; print(uv.find_uv_bin())' 2>/dev/null)" || return 1
    [[ -x "$bin" ]] || return 1
    PATH="$(dirname "$bin"):$PATH"
    export PATH
    command -v uv >/dev/null 2>&1
}

juki_ensure_uv() {
    if command -v uv >/dev/null 2>&1 && uv --version >/dev/null 2>&1; then
        return 0
    fi
    if _juki_uv_from_python; then
        return 0
    fi
    command -v python3 >/dev/null 2>&1 || juki_die "neither uv nor python3 is available; install Python 3.11+ first"
    juki_log "uv not found; installing it with pip (python3 -m pip install uv)"
    python3 -m pip install --quiet --disable-pip-version-check uv \
        || python3 -m pip install --quiet --disable-pip-version-check --user uv \
        || python3 -m pip install --quiet --disable-pip-version-check --user --break-system-packages uv \
        || juki_die "could not install uv with pip"
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash >/dev/null 2>&1 || true; fi
    if command -v uv >/dev/null 2>&1 && uv --version >/dev/null 2>&1; then
        return 0
    fi
    _juki_uv_from_python || juki_die "uv was installed with pip but cannot be found (tried PATH and python3 -c 'import uv')"
}

juki_uv_sync() {
    juki_ensure_uv
    cd "$JUKI_ROOT" || juki_die "cannot cd to $JUKI_ROOT"
    if [[ -f uv.lock ]]; then
        # UV_FROZEN also makes later `uv run` calls use the lock as-is (no re-resolution).
        export UV_FROZEN=1
        juki_log "uv sync --frozen ($(uv --version))"
        uv sync --frozen || juki_die "uv sync --frozen failed"
    else
        juki_log "uv sync (no uv.lock) ($(uv --version))"
        uv sync || juki_die "uv sync failed"
    fi
}
