# Source me: `. .ci/pythons.sh`. Makes python3.10 ... python3.13 runnable by name (as nox and tox
# look them up) when pyenv's shims answer only for the selected version: every installed
# ~/.pyenv/versions/3.X.*/bin/python3.X gets a symlink in one directory put first on PATH.
# `python3`, `python` and `pip` are left alone. Safe to source twice; a no-op without pyenv.
_pooling_pythons() {
    local root="${PYENV_ROOT:-$HOME/.pyenv}/versions" links="${TMPDIR:-/tmp}/pooling-pythons-$(id -u)"
    local v name target found
    [ -d "$root" ] || return 0
    for v in 3.10 3.11 3.12 3.13; do
        name="python$v"
        if command -v "$name" >/dev/null 2>&1 && "$name" -c '' >/dev/null 2>&1; then
            continue
        fi
        found=""
        # highest patch release first
        for target in $(ls -d "$root/$v".* 2>/dev/null | sort -rV); do
            if [ -x "$target/bin/$name" ] && "$target/bin/$name" -c '' >/dev/null 2>&1; then
                found="$target/bin/$name"
                break
            fi
        done
        [ -n "$found" ] || continue
        mkdir -p "$links"
        ln -sfn "$found" "$links/$name"
    done
    case ":$PATH:" in
        *":$links:"*) ;;
        *) [ -d "$links" ] && PATH="$links:$PATH" && export PATH ;;
    esac
    return 0
}
_pooling_pythons
unset -f _pooling_pythons
