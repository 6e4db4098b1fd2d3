# Sourced by the scripts: `need COMMAND PACKAGE` installs Debian's PACKAGE (as root, with
# apt-get) when COMMAND is missing, and stops with what to install otherwise.
need() {
    command -v "$1" >/dev/null 2>&1 && return
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing $2" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq "$2" >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$2" >/dev/null; }
    fi
    command -v "$1" >/dev/null 2>&1 || { echo "this needs $1: apt-get install $2" >&2; exit 1; }
}
